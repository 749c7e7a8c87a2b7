"""The learning-rule interface and what all rules share.

A rule turns one step of an analog model — the per-layer inputs ``x_l`` and pre-activations
``a_l`` of a forward pass on the tiles (:class:`snnx.nn.Record`; spiking nets fold time into
the batch, ``x_l`` is (T*B, in_l)) and the output error ``e`` — into one error signal
``δ_l`` per layer and applies ``W_l <- W_l - lr δ_l^T x_l`` with :meth:`Tile.outer_update`
(DESIGN.md contract 3). Rules only call the tiles: they never read weights from software
memory. Biases are digital (periphery registers) and are updated digitally,
``b_l <- b_l - lr sum_rows δ_l``.

Output error (mean over the batch of B samples):

* ``ce``:  ``L = mean_b CE(softmax(z_b), y_b)``,  ``e = dL/dz = (softmax(z) - onehot(y)) / B``
* ``mse``: ``L = mean_b ½‖z_b - y_b‖²``,          ``e = (z - y) / B``

Example:
    >>> import torch, snnx.hw as hw
    >>> from snnx.nn import MLP
    >>> from snnx.learn import RULES
    >>> net = MLP([4, 8, 3]).to_analog(hw.load("ideal"))
    >>> out = RULES["dfa"](lr=0.1).step(net, torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1]))
    >>> sorted(out)
    ['accuracy', 'loss']
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch

from snnx.nn.analog import AnalogLinear
from snnx.nn.record import Adaptable, Record

LOSSES = ("ce", "mse")

__all__ = ["Rule", "RuleBase", "Record", "LOSSES", "output_error", "apply_updates",
           "analog_layers", "as_targets"]


@runtime_checkable
class Rule(Protocol):
    """What every on-line learning rule offers.

    Attributes:
        name: registry key (``bp``, ``dfa``, ``logsgd``).
        lr: learning rate η of ``W <- W - η δ^T x``.
    """

    name: str
    lr: float

    def bind(self, model: Adaptable) -> None:
        """Build whatever hardware the rule needs next to ``model`` (idempotent)."""

    def deltas(self, model: Adaptable, rec: Record, e: torch.Tensor) -> list[torch.Tensor]:
        """Per-layer errors ``δ_l`` (N, out_l) for output error ``e`` (B, classes)."""

    def apply(self, model: Adaptable, rec: Record, deltas: list[torch.Tensor]) -> None:
        """Write the updates of ``deltas`` (from :meth:`deltas`) to the tiles."""

    def step(self, model: Adaptable, x: Any, y: Any, *, record: Record | None = None) -> dict:
        """Forward on the tiles (or reuse ``record`` of ``x``), compute δ, update the tiles.

        Returns:
            ``{"loss": float, "accuracy": float}`` (accuracy only for ``ce``), before the
            update.
        """

    def state_dict(self) -> dict:
        """Rule state (hyper-parameters, feedback tiles, integrator state)."""

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""


def analog_layers(model: Adaptable) -> list[AnalogLinear]:
    """The model's layers, checked to be :class:`AnalogLinear` (rules adapt analog models)."""
    layers = list(getattr(model, "layers", []))
    if not layers:
        raise TypeError(f"{type(model).__name__}: has no .layers to adapt")
    for i, lyr in enumerate(layers):
        if not isinstance(lyr, AnalogLinear):
            raise TypeError(f"layer {i} is a {type(lyr).__name__}, not an AnalogLinear: call "
                            "to_analog(hw) first (rules adapt analog models only)")
    return layers


def as_targets(y: Any, loss: str, n_classes: int, batch: int, dtype: torch.dtype) -> torch.Tensor:
    """Labels (B,) int64 for ``ce``, targets (B, C) float for ``mse``, validated."""
    if loss == "ce":
        y = torch.as_tensor(y, dtype=torch.int64).reshape(-1)
        if y.shape[0] != batch:
            raise ValueError(f"y: expected {batch} labels, got {y.shape[0]}")
        if bool(((y < 0) | (y >= n_classes)).any()):
            raise ValueError(f"y: labels must be in [0, {n_classes}), got {y.tolist()}")
        return y
    y = torch.as_tensor(y, dtype=dtype).reshape(batch, -1)
    if y.shape[1] != n_classes:
        raise ValueError(f"y: expected targets of shape ({batch}, {n_classes}), got "
                         f"{tuple(y.shape)}")
    return y


def output_error(logits: torch.Tensor, y: Any, loss: str = "ce") -> tuple[torch.Tensor, dict]:
    """``e = dL/dlogits`` (B, C) and the loss metrics (see module docstring)."""
    if loss not in LOSSES:
        raise ValueError(f"loss: {loss!r} is not one of {', '.join(LOSSES)}")
    B, C = logits.shape
    y = as_targets(y, loss, C, B, logits.dtype)
    if loss == "ce":
        logp = torch.log_softmax(logits, dim=1)
        e = logp.exp()
        e[torch.arange(B), y] -= 1.0
        metrics = {"loss": float(-logp[torch.arange(B), y].mean()),
                   "accuracy": float((logits.argmax(1) == y).to(torch.float64).mean())}
    else:
        e = logits - y
        metrics = {"loss": float(0.5 * (e * e).sum(1).mean())}
    return e / B, metrics


def apply_updates(model: Adaptable, rec: Record, deltas: list[torch.Tensor], lr: float,
                  update_bias: bool = True) -> None:
    """``W_l <- W_l - lr δ_l^T x_l`` on every tile, in one parallel ledger block.

    Every tile has its own write circuitry, so the layers' writes overlap in time: the
    ledger books the longest one (same for every rule, so rules compare on their backward
    passes). Biases are digital: ``b_l <- b_l - lr sum_rows δ_l``.
    """
    layers = analog_layers(model)
    with model.ledger.parallel():
        for lyr, x, d in zip(layers, rec.inputs, deltas):
            with model.ledger.branch():
                lyr.tile.outer_update(x, d, lr)
    if update_bias:
        with torch.no_grad():
            for lyr, d in zip(layers, deltas):
                if lyr.bias is not None:
                    lyr.bias.sub_(lr * d.sum(0).to(lyr.bias.dtype))


class RuleBase:
    """What the rules share: a step is forward on the tiles, output error, deltas, writes.

    Subclasses set ``name``, ``lr``, ``loss``, ``update_bias`` and implement :meth:`deltas`;
    they may override :meth:`bind` (build extra hardware) and :meth:`apply`.
    """

    name: str
    lr: float
    loss: str
    update_bias: bool

    def bind(self, model: Adaptable) -> None:
        """Build whatever hardware the rule needs next to ``model`` (idempotent)."""

    def deltas(self, model: Adaptable, rec: Record, e: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError

    def step(self, model: Adaptable, x: Any, y: Any, *, record: Record | None = None) -> dict:
        """One step on a batch: forward on the tiles (or ``record``), errors, updates.

        Returns:
            ``{"loss", "accuracy"}`` of the batch before the update.
        """
        self.bind(model)
        rec = record if record is not None else model.record(torch.as_tensor(x))
        e, metrics = output_error(rec.logits, y, self.loss)
        self.apply(model, rec, self.deltas(model, rec, e))
        return metrics

    def apply(self, model: Adaptable, rec: Record, deltas: list[torch.Tensor]) -> None:
        """``W_l <- W_l - lr δ_l^T x_l`` on every tile (one parallel write step)."""
        apply_updates(model, rec, deltas, self.lr, self.update_bias)
