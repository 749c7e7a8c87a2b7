"""What a learning rule needs from one forward pass on the tiles.

A :class:`Record` holds, for every layer ``l``, the layer input ``x_l`` and its
pre-activation ``a_l = W_l x_l + b_l`` (for spiking layers: the membrane potential ``u_l``),
with time folded into the batch for spiking networks (DESIGN.md contract 3): row
``t * B + b`` is time step ``t`` of sample ``b``, so ``x_l`` has shape ``(T*B, in_l)``.

Models that can be adapted on-line (:class:`snnx.nn.MLP`, :class:`snnx.nn.SNN` after
``to_analog``) implement the small protocol :class:`Adaptable`; the rules in
:mod:`snnx.learn` use nothing else:

* ``record(x)`` — forward on the tiles, returning a :class:`Record`;
* ``output_delta(rec, e)`` — ``e = dL/dlogits`` (B, C) -> ``δ_L`` (N, C) through the readout
  (and the output neurons' BPTT for an SNN);
* ``hidden_delta(l, rec, g)`` — ``g = dL/dh_l`` (N, out_l) -> ``δ_l`` (BP: ``g ⊙ f'(a_l)``, or
  BPTT through the membrane). In general ``g`` is what layer l+1's transposed read returns,
  the gradient at that layer's input rows ``x_{l+1}``; a CNN folds it back (col2im) to a map;
* ``local_deriv(l, rec)`` — ``f'(a_l)`` (N, out_l) (surrogate derivative for spikes; DFA);
* ``expand_error(rec, v)`` — a per-sample signal (B, n) -> per-row (N, n) (DFA).

Convolutional layers (:class:`snnx.nn.CNN`) fold the L output positions into the rows as
SNNs fold time: ``x_l`` holds the B*L patch rows (im2col) and ``a_l`` (B*L, out_l). Their
layers' rows differ in number, so such a model also offers, for DFA (optional; without them
a rule uses ``out_l`` and :meth:`Adaptable.expand_error`):

* ``feedback_features(l, kind)`` — outputs of layer l's feedback tile;
* ``expand_feedback(l, rec, v, kind)`` — a feedback read (B, that many) -> rows of ``a_l``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, runtime_checkable

import torch

from snnx.hw.config import HWConfig
from snnx.hw.ledger import CostLedger


@dataclasses.dataclass
class Record:
    """Per-layer tensors of one forward pass on the tiles (no autograd graph).

    Attributes:
        inputs: ``x_l`` (N, in_l) per layer, N = B (ANN), T*B (SNN, time-major) or B*L
            (conv layer: patch rows, sample-major).
        pre: ``a_l`` (N, out_l) per layer: pre-activation (ANN) or membrane ``u_l`` (SNN).
        logits: (B, classes) network output (readout).
        batch: B, samples in the batch.
        steps: T, time steps (1 for an ANN).
        extra: model-specific tensors (e.g. synaptic currents), for the model's own use.
    """

    inputs: list[torch.Tensor]
    pre: list[torch.Tensor]
    logits: torch.Tensor
    batch: int
    steps: int = 1
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


@runtime_checkable
class Adaptable(Protocol):
    """A network the rules of :mod:`snnx.learn` can adapt on the crossbar."""

    layers: Any  # sequence of AnalogLinear

    @property
    def ledger(self) -> CostLedger: ...

    @property
    def hw(self) -> HWConfig: ...

    def record(self, x: torch.Tensor) -> Record: ...

    def output_delta(self, rec: Record, e: torch.Tensor) -> torch.Tensor: ...

    def hidden_delta(self, layer: int, rec: Record, g: torch.Tensor) -> torch.Tensor: ...

    def local_deriv(self, layer: int, rec: Record) -> torch.Tensor: ...

    def expand_error(self, rec: Record, v: torch.Tensor) -> torch.Tensor: ...
