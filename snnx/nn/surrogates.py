"""Surrogate gradients: the spike ``H(u)`` forward, a smooth derivative backward (BPTT)."""

from __future__ import annotations

import math

import torch


class _Spike(torch.autograd.Function):
    """Heaviside forward (dtype kept), surrogate derivative backward."""

    @staticmethod
    def forward(ctx, u: torch.Tensor, sg: "Surrogate") -> torch.Tensor:
        ctx.save_for_backward(u)
        ctx.sg = sg
        return (u > 0).to(u.dtype)

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        (u,) = ctx.saved_tensors
        return g * ctx.sg.deriv(u), None


class Surrogate:
    """Spike function ``H(u)`` with a smooth derivative for BPTT.

    * ``atan`` (Fang et al., ICCV 2021): ``H'(u) ~ (a/2) / (1 + (pi a u / 2)^2)``, slope a=2.
    * ``fast_sigmoid`` (Zenke & Ganguli, Neural Comput. 2018): ``H'(u) ~ 1/(1 + k|u|)^2``,
      slope k=25.

    The same formulas as snntorch's surrogates, but the spike keeps the input's dtype
    (float64 works). Instances are callables usable as snntorch ``spike_grad``.
    """

    def __init__(self, kind: str = "atan", slope: float | None = None) -> None:
        if kind not in ("atan", "fast_sigmoid"):
            raise ValueError(f"surrogate: {kind!r} is not one of atan, fast_sigmoid")
        self.kind = kind
        self.slope = float(slope if slope is not None else (2.0 if kind == "atan" else 25.0))
        if not self.slope > 0:
            raise ValueError(f"surrogate slope: must be > 0, got {self.slope}")

    def __call__(self, u: torch.Tensor) -> torch.Tensor:
        return _Spike.apply(u, self)

    def deriv(self, u: torch.Tensor) -> torch.Tensor:
        """Surrogate ``dH/du`` evaluated at ``u`` (same shape)."""
        k = self.slope
        if self.kind == "atan":
            return (k / 2) / (1 + (math.pi / 2 * k * u) ** 2)
        return 1.0 / (k * u.abs() + 1.0) ** 2

    def __repr__(self) -> str:
        return f"Surrogate({self.kind!r}, slope={self.slope})"


def surrogate(kind: str = "atan", slope: float | None = None) -> Surrogate:
    """Build a :class:`Surrogate` (``atan`` slope 2, ``fast_sigmoid`` slope 25 by default)."""
    return Surrogate(kind, slope)
