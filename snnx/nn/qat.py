"""Quantisation-aware training for binary-cell crossbars: b-bit weights as bit planes
(METHODS.md section 5, the ASR paper's mapping [V]).

Weights: per-tensor symmetric quantisation with ``b`` bits,

    n = 2^(b-1) - 1,   s = max|w| / n,   q = clip(round(w / s), -n, n) in {-n .. n},
    w_q = s q            (b = 3: q in {-3 .. 3}, 7 levels)

with a straight-through estimator (the forward uses ``w_q``, the gradient passes to ``w``
unchanged: ``w + (w_q - w).detach()``); the scale is treated as a constant. Activations:
8-bit symmetric fake quantisation around each layer (scale from max|x| of the tensor, or a
fixed full scale, in which case the gradient is zero where x is clipped).

Mapping onto binary cells: the sign goes to a differential pair of arrays (positive and
negative bitlines subtracted) and ``|q|`` to ``b - 1`` binary planes, plane ``k`` worth
``2^k`` after the ADC: ``q = sign * sum_k 2^k plane_k``
(:func:`bit_planes` / :func:`from_bit_planes`, or per side :func:`differential_planes`).

Example:
    >>> import torch
    >>> w = torch.tensor([0.3, -0.1, 0.05, -0.3])
    >>> q, s = quantize_weight(w, 3)
    >>> q.tolist(), round(float(s), 3)
    ([3, -1, 0, -3], 0.1)
    >>> sign, planes = bit_planes(q, 3)
    >>> planes.tolist()
    [[1, 1, 0, 1], [1, 0, 0, 1]]
    >>> torch.equal(from_bit_planes(sign, planes), q)
    True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from snnx.errors import ConfigError, ShapeError


def _n_levels(bits: int, name: str = "bits") -> int:
    if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 16:
        raise ConfigError(f"{name}: expected an integer in [2, 16], got {bits!r}")
    return (1 << (bits - 1)) - 1


def quantize_weight(w: torch.Tensor, bits: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer levels and scale of a per-tensor symmetric quantisation (no gradient).

    Args:
        w: weights, any shape.
        bits: b >= 2 (sign included).

    Returns:
        (q, s): ``q`` int64 in ``{-(2^(b-1)-1) .. 2^(b-1)-1}`` of ``w``'s shape, scale ``s``
        (0-dim, weight units per level; 1 for an all-zero tensor).
    """
    n = _n_levels(bits)
    w = w.detach()
    m = w.abs().max() if w.numel() else w.new_zeros(())
    s = torch.where(m > 0, m / n, torch.ones_like(m))
    q = torch.round(w / s).clamp_(-n, n).to(torch.int64)
    return q, s


def fake_quant_weight(w: torch.Tensor, bits: int = 3) -> torch.Tensor:
    """``s q`` in the forward pass, identity gradient to ``w`` (straight-through)."""
    q, s = quantize_weight(w, bits)
    return w + (q.to(w.dtype) * s - w).detach()


def fake_quant_act(x: torch.Tensor, bits: int = 8, x_max: float | None = None) -> torch.Tensor:
    """Symmetric activation fake-quantisation with a straight-through estimator.

    Args:
        x: activations, any shape.
        bits: b >= 2 (sign included): levels ``-(2^(b-1)-1) .. 2^(b-1)-1`` times the step.
        x_max: full scale; None: ``max|x|`` of this tensor (nothing clips). With a fixed
            full scale, values beyond it clip and get zero gradient.

    Returns:
        Quantised activations, same shape; gradient 1 inside the range, 0 where clipped.
    """
    n = _n_levels(bits)
    if x_max is None:
        m = x.detach().abs().max() if x.numel() else x.new_zeros(())
        m = torch.where(m > 0, m, torch.ones_like(m))
    else:
        if not x_max > 0:
            raise ConfigError(f"x_max: must be > 0 (got {x_max!r})")
        m = torch.as_tensor(float(x_max), dtype=x.dtype, device=x.device)
    step = m / n
    xc = x.clamp(-m, m)                                  # gradient 0 where clipped
    xq = torch.round(xc.detach() / step).clamp_(-n, n) * step
    return xc + (xq - xc).detach()


def bit_planes(q: torch.Tensor, bits: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Split integer levels into a sign and ``b - 1`` binary magnitude planes.

    Args:
        q: integer levels with ``|q| <= 2^(b-1) - 1``.
        bits: b.

    Returns:
        (sign, planes): ``sign`` int64 in {-1, 0, 1} of q's shape; ``planes`` int64 {0, 1}
        of shape ``(b-1, *q.shape)``, plane k (LSB = 0) worth ``2^k``.

    Raises:
        ShapeError: non-integer q or a level out of range.
    """
    n = _n_levels(bits)
    if q.dtype.is_floating_point or q.dtype == torch.bool or q.is_complex():
        raise ShapeError(f"q: expected an integer tensor, got {q.dtype}")
    if q.numel() and int(q.abs().max()) > n:
        raise ShapeError(f"q: levels must lie in [-{n}, {n}] for {bits} bits "
                         f"(got max |q| = {int(q.abs().max())})")
    mag = q.abs().to(torch.int64)
    k = torch.arange(bits - 1, device=q.device).view(-1, *([1] * q.dim()))
    return torch.sign(q).to(torch.int64), (mag.unsqueeze(0) >> k) & 1


def from_bit_planes(sign: torch.Tensor, planes: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`bit_planes`: ``q = sign * sum_k 2^k planes[k]`` (int64)."""
    k = torch.arange(planes.shape[0], device=planes.device).view(-1, *([1] * sign.dim()))
    return sign.to(torch.int64) * (planes.to(torch.int64) << k).sum(0)


def differential_planes(q: torch.Tensor, bits: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Binary planes of the positive and negative arrays of a differential pair.

    Returns:
        (pos, neg), each int64 {0, 1} of shape ``(b-1, *q.shape)``, with
        ``q = sum_k 2^k (pos[k] - neg[k])`` and at most one side set per cell.
    """
    sign, planes = bit_planes(q, bits)
    return planes * (sign > 0), planes * (sign < 0)


class QATLinear(nn.Linear):
    """``nn.Linear`` whose forward uses b-bit weights and 8-bit input activations.

    Args:
        in_features, out_features, bias: as ``nn.Linear``.
        bits: weight bits b (default 3: levels -3..3).
        act_bits: input activation bits (default 8; None: no activation quantisation).
        act_max: fixed activation full scale; None: per-tensor max|x|.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 bits: int = 3, act_bits: int | None = 8, act_max: float | None = None,
                 device=None, dtype=None) -> None:
        super().__init__(in_features, out_features, bias, device=device, dtype=dtype)
        _n_levels(bits, "bits")
        if act_bits is not None:
            _n_levels(act_bits, "act_bits")
        self.bits, self.act_bits, self.act_max = bits, act_bits, act_max

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.act_bits is not None:
            x = fake_quant_act(x, self.act_bits, self.act_max)
        return F.linear(x, fake_quant_weight(self.weight, self.bits), self.bias)

    def quantized(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(q, s) of the current weights, for programming onto bit planes."""
        return quantize_weight(self.weight, self.bits)
