"""A Tile's persistent state and its clock: functions bound as :class:`~snnx.hw.tile.Tile`
methods (``state_dict``, ``load_state_dict``, ``set_time``, ``time``), kept apart from the
engine's read and write paths.

``state_dict`` holds everything needed to continue exactly where a tile left off:
conductances, faults, device-to-device variation, mapping and scale, both random states,
the last exact parasitics solve, the cell state of :mod:`snnx.hw.cellstate` (device state,
clock, write times, drift draws) and the ledger; behind a periphery key
(:mod:`snnx.hw.periphery_key`) only the key's SHA-256, checked on loading.
"""

from __future__ import annotations

from typing import Any

from snnx.errors import ShapeError
from snnx.hw import wires
from snnx.hw.periphery_key import check_key_state, key_state


def state_dict(self: Any) -> dict:
    """Conductances, faults, variation, mapping, scale, RNG, last parasitics solve, cell
    state (device state, clock, drift draws) and ledger state."""
    return {
        "G": self._G.clone(), "w_max": self.w_max, "n_updates": self.n_updates,
        "faults": None if self.faults is None else (self.faults[0].clone(),
                                                    self.faults[1].clone()),
        "gain": None if self.gain is None else self.gain.clone(),
        "row_perm": self.row_perm, "col_perm": self.col_perm,
        "pr_anchor": wires.saved(self._pr_anchor),
        "gen": self.gen.get_state(), "rng": self.rng.state_dict(),
        "hw": self.hw.to_dict(), "shape": self.shape, "seed": self.seed,
        "ledger": self.ledger.state_dict(), "cells": self.cells.state_dict(),
        **key_state(self.layout.key),  # a periphery key: its SHA-256, never the bits
    }

def load_state_dict(self: Any, state: dict, *, load_ledger: bool = True) -> None:
    """Restore from :meth:`state_dict` (shapes must match)."""
    if tuple(state["shape"]) != self.shape or tuple(state["G"].shape) != tuple(self._G.shape):
        raise ShapeError(f"state: tile shape {tuple(state['shape'])} does not match "
                         f"{self.shape}")
    check_key_state(self.layout.key, state)
    self._G = state["G"].to(self.device, self.dtype).clone()
    self.layout.load_state_dict(state)
    self.n_updates = int(state["n_updates"])
    f = state["faults"]
    self.faults = None if f is None else (f[0].to(self.device), f[1].to(self.device))
    self.gain = None if state["gain"] is None else state["gain"].to(self.device, self.dtype)
    # absent in older states: re-solve exactly; kept solvers are rebuilt at the next read
    self._pr_anchor = wires.loaded(state.get("pr_anchor"), self.device, self.dtype)
    if "cells" in state:  # absent in older states: no device state, clock at 0
        self.cells.load_state_dict(state["cells"])
    self.gen.set_state(state["gen"])
    self.rng.load_state_dict(state["rng"])
    if load_ledger:
        self.ledger.load_state_dict(state["ledger"])
    self._invalidate()


def set_time(self: Any, t: float) -> None:
    """Set the clock: reads and :meth:`read_weight` then see the cells ``t`` s after the
    first programming, each aged since its own last write (``hw.drift``,
    :mod:`snnx.hw.cellstate`); later writes happen at ``t``.

    Raises:
        ConfigError: ``t`` not finite, negative, or before the last write of a cell.
    """
    self.cells.set_time(t)
    if self.cells.drifts:
        self._pr_anchor = None  # conductances moved: a fresh exact parasitics solve
        self._invalidate()


def clock(self: Any) -> float:
    """The tile's clock in s (:meth:`set_time`)."""
    return self.cells.time
