"""Memristive cell physics shared by every device model: range, levels, faults, pulses.

Conventions: conductances ``G`` in S; ``g = (G - g_min)/(g_max - g_min)`` is the normalised
state in [0, 1]. What differs between devices -- the pulse response and the fixed
device-to-device variation -- is a device model (``hw.device.model``, one file each in
:mod:`snnx.hw.devices`); :func:`apply_pulses` and :func:`sample_variation` dispatch to it.
Stuck-at faults are common to all models. Read noise lives in :mod:`snnx.hw.noise`.
"""

from __future__ import annotations

import functools
from typing import Any

import torch

from snnx.hw.config import HWConfig
from snnx.hw.devices import DEVICES


def g_range(hw: HWConfig) -> float:
    """g_max - g_min in S."""
    return hw.device.g_max - hw.device.g_min


def step_fraction(hw: HWConfig) -> float | None:
    """Conductance step of one pulse as a fraction of the range (None: exact analog update)."""
    u = hw.device.update
    if u.step is not None:
        return u.step
    if hw.device.levels is None:
        return None
    return 1.0 / (hw.device.levels - 1)


@functools.lru_cache(maxsize=64)
def cell_model(hw: HWConfig) -> Any:
    """The device model instance of ``hw`` (``hw.device.model`` with its parameters)."""
    return DEVICES.get(hw.device.model)(hw.device_params, hw.device)


def quantize_levels(g: torch.Tensor, levels: int | None) -> torch.Tensor:
    """Round normalised states g in [0, 1] to the nearest of ``levels`` evenly spaced levels."""
    if levels is None:
        return g.clamp(0.0, 1.0)
    q = levels - 1
    return torch.round(g.clamp(0.0, 1.0) * q) / q


def sample_faults(shape: tuple[int, ...], hw: HWConfig, gen: torch.Generator,
                  device: torch.device) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Stuck-at masks (SA0 -> g_min, SA1 -> g_max), fixed for the life of the cells.

    Returns:
        (sa0, sa1) boolean tensors of ``shape``, or None when ``stuck_at`` is 0.
    """
    p = hw.device.stuck_at
    if p <= 0:
        return None
    u = torch.rand(shape, generator=gen, device=device)
    v = torch.rand(shape, generator=gen, device=device)
    stuck = u < p
    sa1 = stuck & (v < hw.device.sa1_share)
    return stuck & ~sa1, sa1


def sample_variation(shape: tuple[int, ...], hw: HWConfig, gen: torch.Generator,
                     device: torch.device, dtype: torch.dtype) -> torch.Tensor | None:
    """Fixed per-cell multiplier of the pulse step (device-to-device variation) or None."""
    return cell_model(hw).variation(shape, gen, device, dtype)


def apply_faults(G: torch.Tensor, faults, hw: HWConfig) -> torch.Tensor:
    """Force stuck cells to their stuck value (in place); returns G."""
    if faults is not None:
        sa0, sa1 = faults
        G.masked_fill_(sa0, hw.device.g_min)
        G.masked_fill_(sa1, hw.device.g_max)
    return G


def apply_pulses(g: torch.Tensor, n: torch.Tensor, hw: HWConfig, *, depress: torch.Tensor | None,
                 gain: torch.Tensor | None, noise: torch.Tensor | None) -> torch.Tensor:
    """Apply ``n`` pulses to every cell of normalised state ``g`` through the device model.

    Args:
        g: normalised states in [0, 1], any shape.
        n: pulse counts (>= 0, float), same shape.
        hw: hardware model (pulse step, device model and its parameters).
        depress: boolean mask of cells that get depression pulses (None: all potentiate).
        gain: fixed per-cell step multiplier (device-to-device), or None.
        noise: standard normal samples of the same shape for c2c noise, or None.

    Returns:
        New normalised states, clipped to [0, 1].
    """
    s = step_fraction(hw)
    if s is None:
        raise ValueError("apply_pulses: the device has no pulse step (continuous levels and "
                         "device.update.step null)")
    return cell_model(hw).pulse(g, n, s, depress=depress, gain=gain, noise=noise)
