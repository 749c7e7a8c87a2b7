"""Memristive cell physics: levels, faults, device-to-device variation, pulse updates and
read-noise statistics. Pure functions on tensors; no network knowledge.

Conventions: conductances ``G`` in S; ``g = (G - g_min)/(g_max - g_min)`` is the normalised
state in [0, 1].

Pulse update (METHODS.md section 0, soft-bounded [R]). One potentiation pulse moves the
normalised state by ``s * exp(-beta_pot * g)`` (``s`` = step, fraction of the range, times a
fixed per-cell device-to-device gain); a depression pulse by ``-s_d * exp(-beta_dep * (1-g))``
with ``s_d = dep_ratio * s``. ``n`` pulses are applied in closed form (the continuum limit of
the recursion), so a pulse count is one vectorised expression, never a loop:

    beta = 0:   g_n = g_0 + n s
    beta > 0:   g_n = ln(exp(beta g_0) + beta n s) / beta

Cycle-to-cycle noise: each pulse's step is multiplied by ``(1 + c2c * xi)``; the sum of n
independent pulse errors is Gaussian with std ``c2c * s * sqrt(n)``.
"""

from __future__ import annotations

import torch

from snnx.hw.config import HWConfig

K_BOLTZMANN = 1.380649e-23  # J/K (SI exact)
Q_ELECTRON = 1.602176634e-19  # C (SI exact); METHODS.md 5 warns against using e = 2.718


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


def sample_d2d_gain(shape: tuple[int, ...], hw: HWConfig, gen: torch.Generator,
                    device: torch.device, dtype: torch.dtype) -> torch.Tensor | None:
    """Fixed per-cell multiplier of the pulse step (device-to-device variation), >= 0.05."""
    s = hw.device.d2d_sigma
    if s <= 0:
        return None
    z = torch.randn(shape, generator=gen, device=device, dtype=dtype)
    return (1.0 + s * z).clamp_(min=0.05)


def apply_faults(G: torch.Tensor, faults, hw: HWConfig) -> torch.Tensor:
    """Force stuck cells to their stuck value (in place); returns G."""
    if faults is not None:
        sa0, sa1 = faults
        G.masked_fill_(sa0, hw.device.g_min)
        G.masked_fill_(sa1, hw.device.g_max)
    return G


def apply_pulses(g: torch.Tensor, n: torch.Tensor, hw: HWConfig, *, depress: torch.Tensor | None,
                 gain: torch.Tensor | None, noise: torch.Tensor | None) -> torch.Tensor:
    """Apply ``n`` identical pulses to every cell of normalised state ``g`` (closed form).

    Args:
        g: normalised states in [0, 1], any shape.
        n: pulse counts (>= 0, float), same shape.
        hw: hardware model (step, soft bounds, asymmetry, c2c noise).
        depress: boolean mask of cells that get depression pulses (None: all potentiate).
        gain: fixed per-cell step multiplier (device-to-device), or None.
        noise: standard normal samples of the same shape for c2c noise, or None.

    Returns:
        New normalised states, clipped to [0, 1].
    """
    u = hw.device.update
    s = step_fraction(hw)
    assert s is not None, "apply_pulses needs a pulse step"
    sn = n * s
    if gain is not None:
        sn = sn * gain
    if depress is None:
        new = _soft(g, sn, u.beta_pot)
    else:
        pot = _soft(g, sn, u.beta_pot)
        dep = 1.0 - _soft(1.0 - g, sn * u.dep_ratio, u.beta_dep)
        new = torch.where(depress, dep, pot)
    if noise is not None and u.c2c_sigma > 0:
        step = s if gain is None else s * gain
        new = new + (u.c2c_sigma * step) * torch.sqrt(n) * noise
    return new.clamp_(0.0, 1.0)


def _soft(g: torch.Tensor, total_step: torch.Tensor, beta: float) -> torch.Tensor:
    """Closed-form soft-bounded potentiation by ``total_step`` (sum of linear steps)."""
    if beta == 0:
        return g + total_step
    return torch.log(torch.exp(beta * g) + beta * total_step) / beta


def read_noise_var(hw: HWConfig) -> tuple[float, float, float]:
    """Per-cell, per-read conductance noise variance, normalised by the range squared.

    sigma_G^2 / (g_max - g_min)^2 = a + b * g_abs^2 + c * g_abs, with g_abs = G/(g_max-g_min):

    * ``a = read_sigma^2`` (constant, fraction of range);
    * ``b = read_sigma_rel^2`` (proportional to G);
    * ``c = f (4 k T + 2 q V) / (V^2 (g_max - g_min))`` — thermal + shot noise,
      ``sigma_G = sqrt(G f (4kT + 2qV)) / V`` (METHODS.md sections 4 and 5).

    Returns:
        (a, b, c).
    """
    n = hw.noise
    a = n.read_sigma ** 2
    b = n.read_sigma_rel ** 2
    c = 0.0
    if n.thermal_shot_bw > 0:
        v = hw.periphery.v_read
        c = n.thermal_shot_bw * (4 * K_BOLTZMANN * n.temperature + 2 * Q_ELECTRON * v) / (
            v * v * g_range(hw))
    return a, b, c


def state_noise_matrix(Gp: torch.Tensor, Gn: torch.Tensor, hw: HWConfig) -> torch.Tensor | None:
    """State-dependent part of the summed pair noise variance (normalised), or None.

    For a differential pair both cells are read, so the output variance per unit input
    squared is ``var(G+) + var(G-)``. The constant part ``2a`` is handled separately (it
    needs no matmul); this returns ``b (g+^2 + g-^2) + c (g+ + g-)`` with g = G/range.
    """
    _, b, c = read_noise_var(hw)
    if b == 0 and c == 0:
        return None
    r = g_range(hw)
    gp, gn = Gp / r, Gn / r
    out = torch.zeros_like(gp)
    if b:
        out = out + b * (gp * gp + gn * gn)
    if c:
        out = out + c * (gp + gn)
    return out
