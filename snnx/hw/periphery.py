"""Converters and encodings at the edge of the array: DAC, ADC, bit-serial input planes and
weight bit slicing. Pure functions on tensors.

Units: inputs reach the DAC scaled to [-1, 1] (full scale = V_read). Column partial sums are
expressed in "full cells": the current of one cell at full range (g_max - g_min) driven at
V_read, so an ADC full scale of ``adc_clip * rows`` means ``adc_clip`` of the largest possible
column current.
"""

from __future__ import annotations

import math
from typing import Any

import torch


def dac(x: torch.Tensor, bits: int | None) -> torch.Tensor:
    """Quantise inputs in [-1, 1] to a symmetric ``bits``-bit DAC (sign included).

    Levels are ``k / (2^(bits-1) - 1)`` for integer ``|k| <= 2^(bits-1) - 1`` (2^bits - 1
    levels); a 1-bit DAC drives 0 or full scale (binary spikes). None = ideal.
    """
    if bits is None:
        return x
    q = float(max((1 << (bits - 1)) - 1, 1))
    return torch.round(x.clamp(-1.0, 1.0) * q) / q


def adc_lsb(full_scale: float, bits: int) -> float:
    """Width of one ADC code for a signed ADC spanning [-full_scale, full_scale)."""
    return 2.0 * full_scale / (1 << bits)


def adc_(p: torch.Tensor, bits: int | None, full_scale: float) -> torch.Tensor:
    """Signed ADC, in place: round to codes ``k * lsb`` with ``-2^(b-1) <= k <= 2^(b-1)-1``.

    At most 2^bits distinct values come out of one conversion. Values beyond the full scale
    clip. None = ideal (returns ``p`` unchanged).
    """
    if bits is None:
        return p
    lsb = adc_lsb(full_scale, bits)
    half = float(1 << (bits - 1))
    return p.mul_(1.0 / lsb).round_().clamp_(-half, half - 1.0).mul_(lsb)


def bit_planes(xq: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split DAC-quantised inputs into 1-bit planes for bit-serial driving.

    Args:
        xq: inputs already quantised by :func:`dac` (values k/(2^(bits-1)-1)), shape (B, n).
        bits: DAC bits incl. sign; magnitudes use ``bits-1`` planes.

    Returns:
        (planes, weights): planes (P, B, n) of 0/1 values and weights (P,) such that
        ``xq == sum_p weights[p] * planes[p]``. Positive and negative parts use separate
        planes (negative planes only when some input is negative), so P = bits-1 or
        2(bits-1).
    """
    q = max((1 << (bits - 1)) - 1, 1)
    nb = max(bits - 1, 1)
    mag = torch.round(xq.abs() * q).to(torch.int64)
    shifts = torch.arange(nb, device=xq.device)
    planes = ((mag.unsqueeze(0) >> shifts.view(-1, 1, 1)) & 1).to(xq.dtype)
    weights = (2.0 ** shifts.to(xq.dtype)) / q
    if bool((xq < 0).any()):
        pos = (xq > 0).to(xq.dtype).unsqueeze(0)
        planes = torch.cat([planes * pos, planes * (1 - pos)], 0)
        weights = torch.cat([weights, -weights])
    return planes, weights


def slice_count(weight_bits: int | None, bits_per_cell: int) -> int:
    """Number of cells (columns) per weight magnitude: ceil(weight_bits / bits_per_cell)."""
    if weight_bits is None:
        return 1
    return -(-weight_bits // bits_per_cell)


def slice_weights(mag: torch.Tensor, weight_bits: int, bits_per_cell: int) -> torch.Tensor:
    """Split integer magnitudes into base-2^bits_per_cell digits, LSB first.

    Args:
        mag: integer magnitudes in [0, 2^weight_bits - 1] (any integer dtype), shape (...).
        weight_bits: magnitude bits.
        bits_per_cell: bits per cell.

    Returns:
        digits of shape (..., S), digit k has significance 2^(bits_per_cell * k).
    """
    s = slice_count(weight_bits, bits_per_cell)
    base = 1 << bits_per_cell
    shifts = torch.arange(s, device=mag.device) * bits_per_cell
    return (mag.unsqueeze(-1) >> shifts) & (base - 1)


def encode(x: torch.Tensor, p: Any, name: str = "x") -> tuple[torch.Tensor, Any,
                                                               torch.Tensor | None]:
    """Input scaling and DAC of inputs x (B, n) for periphery settings ``p``.

    Each input vector is scaled by its own max|x| (``abs_max``, a digital step) or by the
    fixed full scale ``x_max`` (``fixed``, clipped), then passes the DAC.

    Returns:
        (codes, scale, plane_weights): drive codes (V*B, n) -- integers in [-q, q] for a
        q-level DAC (q = 2^(bits-1) - 1), the scaled inputs themselves for an ideal DAC, or
        0/1 planes when bit-serial (V planes, weighted by ``plane_weights``) --, the scale
        ((B, 1) tensor or a float) and the plane weights (or None).

    Raises:
        ShapeError: NaN or inf in x where the codes would hide it (fixed scaling and
            bit-serial planes; elsewhere the read energy reveals it before any state changes).
    """
    from snnx.errors import ShapeError

    if p.input_scaling == "abs_max":
        s = x.abs().amax(1, keepdim=True)
        if p.input_bit_serial and not math.isfinite(float(s.max())):
            raise ShapeError(f"{name}: contains NaN or inf")
        s.clamp_(min=torch.finfo(x.dtype).tiny)
        xs = x / s
    else:
        if not bool(torch.isfinite(x.sum())) and not bool(torch.isfinite(x).all()):
            raise ShapeError(f"{name}: contains NaN or inf")
        s = p.x_max
        xs = (x / s).clamp(-1.0, 1.0)
    if p.input_bit_serial:
        bits = p.dac_bits if p.dac_bits is not None else 8
        planes, w = bit_planes(dac(xs, bits), bits)
        return planes.reshape(-1, x.shape[1]), s, w
    if p.dac_bits is None:
        return xs, s, None
    q = float(max((1 << (p.dac_bits - 1)) - 1, 1))
    return xs.mul_(q).round_(), s, None
