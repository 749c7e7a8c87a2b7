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

Device-model modules import torch inside their functions, so that validating a hardware
model (``snnx hw show``, recipes) stays torch-free; ``tests/hw/test_registries.py`` checks it.
"""

from snnx.config.registry import Registry

DEVICES = Registry("device model", {
    "soft_bounded": ("snnx.hw.devices.soft_bounded:SoftBounded",
                     "analog RRAM: soft-bounded, asymmetric pulse steps, device-to-device and "
                     "cycle-to-cycle variation (METHODS.md 0)"),
})

__all__ = ["DEVICES"]
