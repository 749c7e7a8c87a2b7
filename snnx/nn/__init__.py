"""snnx.nn: torch modules built on crossbar tiles.

* :class:`AnalogLinear` -- a linear layer on a :class:`snnx.hw.Tile` (analog forward and
  transposed read, digital bias and weight gradient).
* :class:`MLP` -- plain-torch perceptron; ``to_analog(hw)`` puts it on tiles.
* :class:`AnalogConv1d` / :class:`AnalogConv2d` -- convolutions on one tile per layer (im2col).
* :class:`CNN` -- 1-D / 2-D convolutional network; ``to_analog(hw)`` puts it on tiles.
* :class:`SNN` -- snntorch Leaky/Synaptic network for sensor windows; ``to_analog(hw)``.
* :class:`BinaryNet` -- binary/ternary network (``model.kind: bnn``); ``to_analog(hw)``.
* :class:`Record` / :class:`Adaptable` -- what the learning rules of :mod:`snnx.learn` use.

:data:`MODELS` is the registry of network kinds a recipe names (``model.kind``): a class
with ``Params``, ``from_params(params, *, channels, window, classes, hidden, weight_noise,
seed)``, ``window_multiple(params)`` and ``flat_input``.
"""

from snnx.config.lazy import lazy_exports
from snnx.config.registry import Registry

MODELS = Registry("network kind", {
    "snn": ("snnx.nn.snn:SNN", "spiking network (snntorch LIF neurons) on sensor windows"),
    "mlp": ("snnx.nn.ann:MLP", "multilayer perceptron on flattened windows"),
    "cnn": ("snnx.nn.cnn:CNN", "convolutional network (1-D over time or 2-D over an image)"),
    "bnn": ("snnx.nn.bnn:BinaryNet", "binary/ternary network (sign weights and activations, "
                                      "BatchNorm digital) on flattened windows in [0, 1]"),
})
"""Recipe name (``model.kind``) -> network class (lazy)."""

__getattr__ = lazy_exports(__name__, {
    "AnalogLinear": "snnx.nn.analog", "MLP": "snnx.nn.ann", "ACTIVATIONS": "snnx.nn.ann",
    "Record": "snnx.nn.record", "Adaptable": "snnx.nn.record", "SNN": "snnx.nn.snn",
    "ENCODINGS": "snnx.nn.snn", "READOUTS": "snnx.nn.snn", "Surrogate": "snnx.nn.surrogates",
    "surrogate": "snnx.nn.surrogates", "encode": "snnx.nn.snn", "encoded_features": "snnx.nn.snn",
    "AnalogConv1d": "snnx.nn.conv", "AnalogConv2d": "snnx.nn.conv", "CNN": "snnx.nn.cnn",
    "BinaryNet": "snnx.nn.bnn",
})

__all__ = ["MODELS", "AnalogLinear", "AnalogConv1d", "AnalogConv2d", "CNN", "MLP", "SNN",
           "BinaryNet", "Record", "Adaptable", "Surrogate",
           "surrogate", "encode", "encoded_features", "ACTIVATIONS", "ENCODINGS", "READOUTS"]
