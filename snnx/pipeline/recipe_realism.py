"""Recipe parts of the device-realism options (torch-free): the ``finetune`` block and the
checks that tie ``pretrain``/``eval`` options to the hardware model.

Chip-in-the-loop fine-tuning is a **pipeline phase option**, not a rule or a transform:

* it needs labelled data (the source training windows), which a transform (``calib``:
  unlabelled inputs) never gets;
* it runs once, right after programming and before deployment, over its own data and
  epochs; an on-line rule runs on the target stream, window by window;
* its corrections are made of existing parts: the error signals of a registered rule
  (``finetune.rule``, parameters beside it as ``finetune.<rule>``), written back by that
  rule's outer-product updates, or by the tile's selective re-programming verb
  (``Tile.reprogram``), or kept digital (biases only, the OpenMENA demo's setting) -- so
  no registry is needed, and its costs go to their own ledger account (``finetune``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from snnx.config.schema import KW, blocks, build, choice, spec
from snnx.errors import ConfigError
from snnx.learn import RULES


@dataclasses.dataclass(**KW)
class FinetuneConfig:
    """Chip-in-the-loop fine-tuning after programming (METHODS.md 9, OpenMENA): forward
    passes on the programmed (noisy) chip over the source training windows, the error
    computed digitally, corrections written back to the chip."""

    epochs: int = spec(0, lo=0, hi=100000, doc="passes over the source training windows; "
                                                 "0 = no fine-tuning")
    method: str = spec("outer", choices=("outer", "reprogram", "bias"),
                       doc="outer: the rule's outer-product updates (pulses) | reprogram: "
                           "digital weight targets, then the cells off target by more than "
                           "threshold are re-written with the programming scheme after each "
                           "epoch | bias: digital biases only")
    lr: float = spec(1e-3, lo=0, lo_open=True, hi=10, doc="learning rate, in (0, 10]")
    batch_size: int = spec(32, lo=1, hi=1 << 20, doc="windows per correction")
    threshold: float = spec(0.05, lo=0, lo_open=True, hi=1,
                            doc="method reprogram: re-write a cell whose read-back is off its "
                                "target by more than this fraction of g_max - g_min (keep it "
                                "well above the read noise, or noise alone triggers writes)")
    rule: str = choice(RULES, "bp", doc="where the hidden layers' errors come from (its "
                                        "parameters sit beside it, finetune.<rule>)")
    params: Mapping[str, Any] = blocks()


def default() -> FinetuneConfig:
    """The ``finetune`` block of a recipe that has none (off; the rule's block filled in)."""
    return build(FinetuneConfig, {}, "finetune")


def check(recipe: Any) -> None:
    """Cross-checks between the realism options and the hardware model.

    Raises:
        ConfigError: ``eval.times`` without a drift model; ``pretrain.noise_aware`` with
            bit-sliced weights; fine-tuning with a rule that does not write the cells.
    """
    if recipe.finetune.epochs and recipe.finetune.rule == "logsgd":
        raise ConfigError("finetune.rule: logsgd keeps its weights in capacitors, not in the "
                          "programmed cells; fine-tune with bp or dfa")
    hw = None
    if recipe.eval.times:
        hw = recipe.hw_config()
        if not hw.drift:
            raise ConfigError("eval.times: the hardware model has no drift model; add one, "
                              "e.g. --set hw.overrides.drift.power_law={}")
    if recipe.pretrain.noise_aware:
        hw = hw or recipe.hw_config()
        if hw.periphery.weight_bits is not None:
            raise ConfigError("pretrain.noise_aware: bit-sliced weights "
                              "(periphery.weight_bits) are not supported; use multi-level "
                              "cells or pretrain.qat_bits")
