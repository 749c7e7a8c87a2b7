"""Backpropagation on the crossbar: errors travel down through transposed reads.

For L layers, output error ``e = dL/dlogits`` (see :mod:`snnx.learn.rule`)::

    δ_L = e ⊙ f'(a_L)                        (model.output_delta)
    δ_l = mvm_t_{l+1}(δ_{l+1}) ⊙ f'(a_l)      l = L-1 .. 1   (tile l+1's transposed read)
    W_l <- W_l - lr δ_l^T x_l                 (tile.outer_update, all layers)

The transposed reads run one after the other (each needs the one above): the ledger adds
their latencies, and each tile registers row-side ADCs and column-side drivers on first use.

Spiking networks (:class:`snnx.nn.SNN`): ``f'`` is the surrogate derivative of the spike and
the model does full BPTT through the membrane recursion of each layer, with the reset
treated as a constant (detached, as in snntorch):
``du[t] = g[t] H'(u[t]-θ) + β du[t+1]`` (``dsyn[t] = du[t] + α dsyn[t+1]`` for Synaptic
neurons); ``mvm_t`` is applied to all T*B rows of δ at once. This is exact BPTT of the
forward equations (no truncation in time) — on ideal hardware the weight changes equal
``lr`` times torch autograd's gradients of the same network.

Reference: Rumelhart, Hinton, Williams, Nature 323 (1986); BPTT with surrogate gradients:
Neftci, Mostafa, Zenke, IEEE Signal Process. Mag. 36 (2019).
"""

from __future__ import annotations

import dataclasses

import torch

from snnx.config.schema import KW, spec
from snnx.learn.rule import LOSSES, RuleBase, analog_layers
from snnx.nn.record import Adaptable, Record


@dataclasses.dataclass(**KW)
class Params:
    """BP's parameters (recipe: ``adapt.bp``)."""

    loss: str = spec("ce", choices=LOSSES, doc="ce (labels, softmax cross-entropy) | mse")
    update_bias: bool = spec(True, doc="also update the digital biases")


class BP(RuleBase):
    """Backpropagation with transposed reads on the weight tiles.

    Args:
        lr: learning rate η (> 0).
        loss: ``ce`` (labels) or ``mse`` (targets).
        update_bias: also update the digital biases.
        seed: unused (BP draws no random numbers); accepted like every rule's.
    """

    name = "bp"
    Params = Params

    def __init__(self, lr: float = 0.01, *, loss: str = "ce", update_bias: bool = True,
                 seed: int = 0) -> None:
        if not lr > 0:
            raise ValueError(f"lr: must be > 0, got {lr}")
        if loss not in LOSSES:
            raise ValueError(f"loss: {loss!r} is not one of {', '.join(LOSSES)}")
        self.lr, self.loss, self.update_bias = float(lr), loss, bool(update_bias)

    def bind(self, model: Adaptable) -> None:
        """Nothing to build: BP uses the weight tiles themselves."""
        analog_layers(model)

    def deltas(self, model: Adaptable, rec: Record, e: torch.Tensor) -> list[torch.Tensor]:
        """δ_l for every layer (sequential transposed reads, top to bottom)."""
        layers = analog_layers(model)
        out: list[torch.Tensor] = [None] * len(layers)  # type: ignore[list-item]
        out[-1] = model.output_delta(rec, e)
        for i in range(len(layers) - 2, -1, -1):
            g = layers[i + 1].tile.mvm_t(out[i + 1])
            out[i] = model.hidden_delta(i, rec, g)
        return out

    def state_dict(self) -> dict:
        return {"name": self.name, "lr": self.lr, "loss": self.loss,
                "update_bias": self.update_bias}

    def load_state_dict(self, state: dict) -> None:
        self.lr, self.loss = float(state["lr"]), state["loss"]
        self.update_bias = bool(state["update_bias"])

    def __repr__(self) -> str:
        return f"BP(lr={self.lr}, loss={self.loss!r})"
