"""The deployment phase: program the software network onto tiles and apply the transforms.

``deploy`` is what happens between off-chip training and on-line learning: every weight
matrix is programmed onto a tile with the hardware model's write scheme (one shared cost
ledger), then the recipe's transforms run in order (mapping, encryption ...), each seeded from
the recipe seed. Everything written here is booked to the ledger account ``program``.
"""

from __future__ import annotations

from typing import Any

from snnx.config.seeds import derive
from snnx.errors import ConfigError, SnnxError
from snnx.hw.ledger import CostLedger
from snnx.transforms import apply_transforms


def deploy(net: Any, hw: Any, recipe: Any, calib: Any) -> Any:
    """``net`` on tiles of ``hw`` with ``recipe.transforms`` applied.

    Args:
        net: the software network (``to_analog`` is called; it is not modified).
        hw: the hardware model.
        recipe: seed and transforms.
        calib: representative network inputs for the transforms (e.g. 64 source windows).

    Raises:
        ConfigError: ``transforms[i]...`` when a transform cannot run on this model.
    """
    ledger = CostLedger()
    with ledger.charge("program"):  # every write of the deployment (report: programming.*)
        return _deploy(net, hw, recipe, calib, ledger)


def _deploy(net: Any, hw: Any, recipe: Any, calib: Any, ledger: Any) -> Any:
    chip = net.to_analog(hw, seed=recipe.seed, ledger=ledger)
    for i, spec in enumerate(recipe.transforms):
        try:
            chip = apply_transforms(chip, [spec], calib=calib,
                                    seed=derive(recipe.seed, "transforms", i))
        except SnnxError as e:
            msg = str(e)
            raise ConfigError(msg if msg.startswith("transforms[") else
                              f"transforms[{i}]: {msg}") from None
        except (ValueError, TypeError) as e:
            raise ConfigError(f"transforms[{i}] ({spec.name}): {e}") from None
    return chip
