"""Writing target conductances: one-shot noisy programming and iterative program-and-verify.

Both are vectorised over all cells; program-and-verify loops over *iterations* only.

* one-shot: ``G = clip(G_target + prog_sigma * range * xi)``, xi ~ N(0, 1), a fresh error
  per programming event that then persists (read noise does not).
* verify: one-shot first, then up to ``max_iters`` rounds of: read every unconverged cell
  (with per-read noise), and give each cell whose read-back differs from its target by more
  than ``tolerance`` steps a train of correcting pulses (SET or RESET by the sign of the
  error; pulse count = rounded error / step, at most ``max_pulses``) through the device's
  pulse model (soft bounds, asymmetry, device-to-device gain, cycle-to-cycle noise).

Each returns the programmed conductances and a :class:`ProgramStats` that the tile turns
into ledger entries.
"""

from __future__ import annotations

import dataclasses

import torch

from snnx.hw import device as dev
from snnx.hw.config import HWConfig


@dataclasses.dataclass
class ProgramStats:
    """What a programming event did (counts, not costs)."""

    cells_written: int = 0       #: cells that received at least one pulse
    pulses: float = 0.0          #: total write pulses
    verify_reads: float = 0.0    #: cell reads made by the verify loop
    iterations: int = 0          #: verify rounds run
    row_steps: torch.Tensor | None = None  #: (..., M) sum over rounds of each row's max pulses


def program_one_shot(target: torch.Tensor, hw: HWConfig, gen: torch.Generator) -> tuple[
        torch.Tensor, ProgramStats]:
    """One noisy write per cell. ``target`` in S, any shape; returns (G, stats)."""
    r = dev.g_range(hw)
    G = target.clone()
    sig = hw.noise.prog_sigma
    if sig > 0:
        z = torch.randn(G.shape, generator=gen, device=G.device, dtype=G.dtype)
        G.add_(z, alpha=sig * r)
    G.clamp_(hw.device.g_min, hw.device.g_max)
    n = target.numel()
    rows = torch.ones(target.shape[:-1], device=target.device, dtype=target.dtype)
    return G, ProgramStats(cells_written=n, pulses=float(n), row_steps=rows)


def program_verify(target: torch.Tensor, hw: HWConfig, gen: torch.Generator,
                   gain: torch.Tensor | None, faults) -> tuple[torch.Tensor, ProgramStats]:
    """Iterative program-and-verify (see module docstring). ``target`` in S, shape (..., M, N).

    Args:
        target: target conductances in S.
        hw: hardware model.
        gen: generator for programming error, read noise and c2c noise.
        gain: fixed per-cell pulse-step multipliers (device-to-device) or None.
        faults: stuck-at masks from :func:`snnx.hw.device.sample_faults` or None; stuck cells
            are read as stuck and never converge (the loop gives up on them after max_iters).

    Returns:
        (G, stats).
    """
    G, stats = program_one_shot(target, hw, gen)
    dev.apply_faults(G, faults, hw)
    s = dev.step_fraction(hw)
    if s is None:  # continuous cells: verify cannot improve on an exact analog write
        return G, stats
    r = dev.g_range(hw)
    gmin = hw.device.g_min
    tol = hw.programming.tolerance * s
    a, b, c = dev.read_noise_var(hw)
    t_norm = (target - gmin) / r
    active = torch.ones_like(G, dtype=torch.bool)
    for it in range(hw.programming.max_iters):
        g = (G - gmin) / r
        var = a + b * (G / r) ** 2 + c * (G / r)
        noise = torch.randn(G.shape, generator=gen, device=G.device, dtype=G.dtype)
        g_read = g + torch.sqrt(var) * noise if (a or b or c) else g
        stats.verify_reads += float(active.sum())
        err = t_norm - g_read
        active = active & (err.abs() > tol)
        if not bool(active.any()):
            break
        n = torch.round(err.abs() / s).clamp_(1, hw.device.update.max_pulses) * active
        z = torch.randn(G.shape, generator=gen, device=G.device, dtype=G.dtype)
        g_new = dev.apply_pulses(g, n, hw, depress=err < 0, gain=gain, noise=z)
        G = g_new * r + gmin
        dev.apply_faults(G, faults, hw)
        stats.pulses += float(n.sum())
        stats.cells_written += int((n > 0).sum())
        stats.row_steps = stats.row_steps + n.amax(-1)
        stats.iterations = it + 1
    return G, stats
