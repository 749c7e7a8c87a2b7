"""snnx.nn: torch modules built on crossbar tiles.

* :class:`AnalogLinear` — a linear layer on a :class:`snnx.hw.Tile` (analog forward and
  transposed read, digital bias and weight gradient).
* :class:`MLP` — plain-torch perceptron; ``to_analog(hw)`` puts it on tiles.
* :class:`SNN` — snntorch Leaky/Synaptic network for sensor windows; ``to_analog(hw)``.
* :class:`Record` / :class:`Adaptable` — what the learning rules of :mod:`snnx.learn` use.
"""

from snnx.nn.analog import AnalogLinear
from snnx.nn.ann import ACTIVATIONS, MLP
from snnx.nn.record import Adaptable, Record
from snnx.nn.snn import ENCODINGS, READOUTS, SNN, Surrogate, encode, encoded_features, surrogate

__all__ = ["AnalogLinear", "MLP", "SNN", "Record", "Adaptable", "Surrogate", "surrogate",
           "encode", "encoded_features", "ACTIVATIONS", "ENCODINGS", "READOUTS"]
