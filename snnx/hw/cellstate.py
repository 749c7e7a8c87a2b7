"""What cells carry beyond their programmed conductances: device state and age (no Tile).

A tile's ``G`` is what its write scheme put into the cells (the *nominal* conductances). Two
things can make reads see something else, and both live here, beside ``G``, in the tile's
state:

* a **stateful device model** (:mod:`snnx.hw.devices`, e.g. ``synaptogen``): every cell has
  its own state with memory (its switching cycle's resistances), drawn at tile creation and
  advanced by every write (``on_write``); reads see ``device.conductance(state, g)``;
* **drift models** (``hw.drift``, :mod:`snnx.hw.drift`): every write draws the written cells'
  frozen drift parameters; a read at clock time ``t`` sees each cell ``t - t_write`` seconds
  after its own last write, ``G(t) = model.at(G0, draw, t - t_write)`` (models in order).

The clock. ``time`` (s) starts at 0 when the tile is first programmed and only moves by
:meth:`CellState.set_time` (``Tile.set_time``). A write at clock time t sets the written
cells' ``t_write`` to t (their drift starts over from what was written); cells that were not
written keep aging. Reading at a time before a cell's last write is an error.

Order of a read: nominal G -> device conductance -> drift (each model) -> read noise, ADC.
With neither a stateful device nor a drift model the view is G itself and nothing is drawn,
so such hardware models give exactly the numbers they gave before this module existed.
"""

from __future__ import annotations

from typing import Any

import torch

from snnx.errors import ConfigError
from snnx.hw.drift import DRIFT


class CellState:
    """Per-cell device state, write times and drift draws of one tile.

    Args:
        hw: the hardware model.
        model: the tile's device-model instance (:func:`snnx.hw.device.cell_model`).
        shape: the tile's cell shape (2, in, n_cols).
        gen: the tile's generator (device state is drawn from it here, drift draws at writes).
        device, dtype: of the tile's conductances.
    """

    def __init__(self, hw: Any, model: Any, shape: tuple[int, ...], gen: torch.Generator,
                 device: torch.device, dtype: torch.dtype) -> None:
        self.hw, self.model, self.shape = hw, model, tuple(shape)
        self.device, self.dtype = device, dtype
        self.stateful = callable(getattr(model, "init_state", None))
        self.device_state = (model.init_state(self.shape, gen, device, dtype)
                             if self.stateful else None)
        self.drifts = [DRIFT.get(name)(params, hw) for name, params in hw.drift.items()]
        self.time = 0.0
        self.t_write: torch.Tensor | None = None   #: (shape) s; None until the first write
        self.draws: list[dict] = []                 #: one dict of tensors per drift model
        self.G0: torch.Tensor | None = None         #: device conductances right after writes

    @property
    def active(self) -> bool:
        """Whether reads see anything but the nominal conductances."""
        return self.stateful or bool(self.drifts)

    def _norm(self, G: torch.Tensor) -> torch.Tensor:
        d = self.hw.device
        return (G - d.g_min) / (d.g_max - d.g_min)

    def device_view(self, G: torch.Tensor) -> torch.Tensor:
        """Conductances (S) the device holds for nominal G (G itself unless stateful)."""
        if not self.stateful:
            return G
        return self.model.conductance(self.device_state, self._norm(G))

    def after_write(self, G_old: torch.Tensor, G_new: torch.Tensor,
                    written: torch.Tensor | None, gen: torch.Generator) -> None:
        """Advance the device state and redraw the drift of the cells just written.

        Args:
            G_old, G_new: nominal conductances (S) before and after, the tile's cell shape.
            written: bool mask of the written cells; None = every cell.
            gen: the tile's generator.
        """
        if not self.active:
            return
        mask = (torch.ones(self.shape, dtype=torch.bool, device=self.device)
                if written is None else written)
        if self.stateful:
            self.device_state = self.model.on_write(self.device_state, self._norm(G_old),
                                                    self._norm(G_new), mask, gen)
        if not self.drifts:
            return
        G0 = self.device_view(G_new)
        if self.t_write is None or written is None:
            self.t_write = torch.full(self.shape, self.time, dtype=torch.float64,
                                      device=self.device)
            self.G0 = G0.clone()
            self.draws = [m.draw(G0, gen) for m in self.drifts]
            return
        self.t_write[mask] = self.time
        self.G0[mask] = G0[mask]
        for m, draw in zip(self.drifts, self.draws):
            sub = m.draw(G0[mask], gen)
            for k, v in sub.items():
                draw[k][mask] = v

    def after_sparse_write(self, G_old: torch.Tensor | None, G_new: torch.Tensor,
                           lin: torch.Tensor, gen: torch.Generator) -> None:
        """:meth:`after_write` for the cells at flat indices ``lin`` (no-op when inactive;
        ``G_old`` may then be None)."""
        if not self.active:
            return
        written = torch.zeros(self.shape, dtype=torch.bool, device=self.device)
        written.view(-1)[lin] = True
        self.after_write(G_old, G_new, written, gen)

    def rewrite(self, G: torch.Tensor, base: torch.Tensor, G_new: torch.Tensor,
                gen: torch.Generator) -> torch.Tensor:
        """New nominal conductances after an update computed from the read view ``base``:
        the cells where ``G_new`` differs from ``base`` were written (recorded here), the
        others keep their nominal G. Inactive: ``G_new`` itself."""
        if not self.active:
            return G_new
        changed = G_new != base
        out = torch.where(changed, G_new, G)
        self.after_write(G, out, changed, gen)
        return out

    def view(self, G: torch.Tensor) -> torch.Tensor:
        """The conductances (S) reads see now for nominal G (see module docstring)."""
        Gd = self.device_view(G)
        if not self.drifts or self.t_write is None:
            return Gd
        age = (self.time - self.t_write).to(G.dtype)
        out = self.G0
        for m, draw in zip(self.drifts, self.draws):
            out = m.at(out, draw, age)
        return out

    def set_time(self, t: float) -> None:
        """Move the clock to ``t`` s (>= the last write of every cell).

        Raises:
            ConfigError: ``t`` is not a finite number >= 0, or before a cell's last write.
        """
        try:
            t = float(t)
        except (TypeError, ValueError):
            raise ConfigError(f"t: expected a number of seconds, got {t!r}") from None
        if not (t >= 0 and t != float("inf")):
            raise ConfigError(f"t: must be a finite number of seconds >= 0, got {t!r}")
        last = float(self.t_write.max()) if self.t_write is not None else 0.0
        if t < last:
            raise ConfigError(f"t: {t:g} s is before the last write of a cell ({last:g} s); "
                              f"a cell cannot be read before it was written")
        self.time = t

    def state_dict(self) -> dict:
        """Clock, write times, drift draws and the device state (tensors cloned)."""
        def c(v: Any) -> Any:
            return None if v is None else v.clone()

        return {"time": self.time, "t_write": c(self.t_write), "G0": c(self.G0),
                "draws": [{k: v.clone() for k, v in d.items()} for d in self.draws],
                "device": None if self.device_state is None else
                {k: v.clone() for k, v in self.device_state.items()}}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""
        def c(v: Any) -> Any:
            return None if v is None else v.to(self.device).clone()

        self.time = float(state["time"])
        self.t_write, self.G0 = c(state["t_write"]), c(state["G0"])
        self.draws = [{k: c(v) for k, v in d.items()} for d in state["draws"]]
        dev_state = state["device"]
        self.device_state = None if dev_state is None else {k: c(v)
                                                            for k, v in dev_state.items()}
