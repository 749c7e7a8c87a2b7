"""Drift models: how conductances change with the time since they were written (one file
each).

``drift`` in a hardware model is a mapping ``model name -> parameters`` like ``noise.read``
(``drift: {power_law: {nu_mean: 0.05}}``; empty = conductances hold forever). Unlike read
noise, a drift model's randomness is drawn ONCE per write of a cell and then frozen: reading
twice at the same time gives the same conductances. A model is a class with ``Params`` and
``__init__(self, params, hw)`` and two methods:

* ``draw(G0, gen) -> dict[str, Tensor]``: the per-cell draw of one write (G0: the
  conductances just written, S, any shape; tensors of G0's shape);
* ``at(G0, draw, age) -> Tensor``: the conductances (S) ``age`` seconds after that write
  (``age`` >= 0, broadcastable against G0).

Several models apply in the order listed, each to the result of the one before. A tile keeps
every cell's write time and draw (:class:`snnx.hw.cellstate.CellState`) and reads at its
clock (``Tile.set_time``). Drift-model modules import torch inside their functions.
"""

from snnx.config.registry import Registry

DRIFT = Registry("drift model", {
    "power_law": ("snnx.hw.drift.power_law:PowerLaw",
                  "frozen per-cell relaxation (grows with log t) and power-law drift "
                  "(t/t0)^-nu with a G-dependent exponent spread (METHODS.md 13)"),
})

__all__ = ["DRIFT"]
