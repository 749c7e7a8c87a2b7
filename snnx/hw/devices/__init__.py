"""Device models: how one memristive cell responds to programming pulses (one file each).

``device.model`` in a hardware model names the entry; its parameters sit beside it under the
same name (``device.soft_bounded: {beta_pot: 2.0}``). A device model is a class with

* ``Params``: a frozen dataclass of its parameters (:func:`snnx.config.spec` fields);
* ``__init__(self, params, cell)``: ``cell`` is the :class:`~snnx.hw.config.DeviceConfig`
  (range, levels, pulse step);
* ``is_ideal(params) -> bool`` (static): pulses are exact linear steps, no variation;
* ``variation(shape, gen, device, dtype) -> Tensor | None``: a fixed per-cell multiplier of
  the pulse step (device-to-device), drawn once per tile;
* ``noisy`` (bool attribute): whether :meth:`pulse` takes standard-normal samples;
* ``pulse(g, n, step, *, depress, gain, noise) -> Tensor``: the normalised states after n
  pulses (closed form, vectorised).

A device whose cells carry state with memory (e.g. the resistances of their current
switching cycle) adds three optional methods; the tile keeps that state beside its
conductances (:class:`snnx.hw.cellstate.CellState`), saves it in ``Tile.state_dict`` and
restores it on resume:

* ``init_state(shape, gen, device, dtype) -> dict[str, Tensor]``: drawn once per tile;
* ``on_write(state, g_old, g_new, written, gen) -> dict``: the new state after a write of
  the cells in the bool mask ``written`` (nominal states before and after);
* ``conductance(state, g) -> Tensor``: the conductance in S that reads see for nominal
  states ``g`` (what the write scheme put).

Device-model modules import torch inside their functions, so that validating a hardware
model (``snnx hw show``, recipes) stays torch-free; ``tests/hw/test_registries.py`` checks it.
"""

from snnx.config.registry import Registry

DEVICES = Registry("device model", {
    "soft_bounded": ("snnx.hw.devices.soft_bounded:SoftBounded",
                     "analog RRAM: soft-bounded, asymmetric pulse steps, device-to-device and "
                     "cycle-to-cycle variation (METHODS.md 0)"),
    "synaptogen": ("snnx.hw.devices.synaptogen:Synaptogen",
                   "binary RRAM with log-normal LRS/HRS, cycle-to-cycle memory (VAR) and "
                   "mixture device-to-device variation (METHODS.md 5)"),
})

__all__ = ["DEVICES"]
