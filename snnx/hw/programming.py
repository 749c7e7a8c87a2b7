"""Writing target conductances: one-shot noisy programming and iterative program-and-verify.

Both are vectorised over all cells; program-and-verify loops over *iterations* only.

* one-shot: ``G = clip(G_target + prog_sigma * range * xi)``, xi ~ N(0, 1), a fresh error
  per programming event that then persists (read noise does not).
* verify: one-shot first, then up to ``max_iters`` rounds of: read every unconverged cell
  (with per-read noise), and give each cell whose read-back differs from its target by more
  than ``tolerance`` steps a train of correcting pulses (SET or RESET by the sign of the
  error; pulse count = rounded error / step, at most ``max_pulses``) through the device's
  pulse model (soft bounds, asymmetry, device-to-device gain, cycle-to-cycle noise).

Active set. The first verify read covers every cell; only ~5-7 % of them are off target
after a typical one-shot write (rram_generic), and fewer after each round. Later rounds
therefore work on the *active set* only: the flat indices of the unconverged cells and
gathered copies of their state, target and gain, compacted after every read; the new states
are scattered back into the full array. Stuck cells (faults) can never converge: they take
part in the first read (it is what tells the controller they are off) and then leave the
active set at once, without pulses. The first read works in place on full-size buffers
(in chunks of ``CHUNK`` cells, so its scratch memory is bounded), later rounds cost O(active cells).

Each returns the programmed conductances and a :class:`ProgramStats` that the tile turns
into ledger entries.
"""

from __future__ import annotations

import dataclasses
import math

import torch

from snnx.hw import device as dev
from snnx.hw.config import HWConfig

#: cells per chunk of the first (full-array) verify read; bounds its scratch memory
CHUNK = 1 << 22


@dataclasses.dataclass
class ProgramStats:
    """What a programming event did (counts, not costs)."""

    cells_written: int = 0       #: cells that received at least one pulse, summed over rounds
    pulses: float = 0.0          #: total write pulses
    verify_reads: float = 0.0    #: cell reads made by the verify loop
    iterations: int = 0          #: verify rounds that pulsed at least one cell
    row_steps: torch.Tensor | None = None  #: (..., M) sum over rounds of each row's max pulses


def program_one_shot(target: torch.Tensor, hw: HWConfig, gen: torch.Generator) -> tuple[
        torch.Tensor, ProgramStats]:
    """One noisy write per cell. ``target`` in S, any shape; returns (G, stats)."""
    r = dev.g_range(hw)
    sig = hw.noise.prog_sigma
    if sig > 0:  # G = target + sig r z, built in the buffer of z (no second full array)
        G = torch.randn(target.shape, generator=gen, device=target.device, dtype=target.dtype)
        torch.add(target, G, alpha=sig * r, out=G)
    else:
        G = target.clone(memory_format=torch.contiguous_format)
    G.clamp_(hw.device.g_min, hw.device.g_max)
    n = target.numel()
    rows = torch.ones(target.shape[:-1], device=target.device, dtype=target.dtype)
    return G, ProgramStats(cells_written=n, pulses=float(n), row_steps=rows)


def _read_sd(G: torch.Tensor, hw: HWConfig) -> torch.Tensor | float:
    """Std of one verify read of cells at G (S), normalised by the range (METHODS.md 4-5)."""
    a, b, c = dev.read_noise_var(hw)
    if not (b or c):
        return math.sqrt(a)
    g = G / dev.g_range(hw)
    return g.mul(b).add_(c).mul_(g).add_(a).sqrt_()   # sqrt(a + b g^2 + c g)


def _first_read(G: torch.Tensor, target: torch.Tensor, hw: HWConfig, gen: torch.Generator,
                tol: float, faults) -> tuple[torch.Tensor, torch.Tensor]:
    """Verify read of every cell, in chunks of ``CHUNK`` cells (bounded scratch memory).

    Returns:
        (flat indices of the off-target cells that are not stuck, their read-back error
        (target - read) / range).
    """
    a, b, c = dev.read_noise_var(hw)
    r = dev.g_range(hw)
    Gf, tf = G.view(-1), target.reshape(-1)
    ff = None if faults is None else (faults[0].reshape(-1), faults[1].reshape(-1))
    idx, errs = [], []
    for lo in range(0, Gf.numel(), CHUNK):
        g = Gf[lo:lo + CHUNK]
        if a or b or c:
            err = torch.randn(g.shape, generator=gen, device=g.device, dtype=g.dtype)
            err.mul_(_read_sd(g, hw)).neg_()
        else:
            err = torch.zeros_like(g)
        err.add_(tf[lo:lo + CHUNK], alpha=1.0 / r).sub_(g, alpha=1.0 / r)  # (t - G)/r - noise
        off = err.gt(tol).logical_or_(err.lt(-tol))
        if ff is not None:
            off &= ~(ff[0][lo:lo + CHUNK] | ff[1][lo:lo + CHUNK])
        i = torch.nonzero(off).squeeze(1)
        errs.append(err.index_select(0, i))
        idx.append(i.add_(lo))
    return torch.cat(idx), torch.cat(errs)


def program_verify(target: torch.Tensor, hw: HWConfig, gen: torch.Generator,
                   gain: torch.Tensor | None, faults) -> tuple[torch.Tensor, ProgramStats]:
    """Iterative program-and-verify on the active set (see module docstring).

    Args:
        target: target conductances in S, shape (..., M, N) (a flat vector is one row).
        hw: hardware model.
        gen: generator for programming error, read noise and c2c noise.
        gain: fixed per-cell pulse-step multipliers (device-to-device), same shape, or None.
        faults: stuck-at masks (sa0, sa1) from :func:`snnx.hw.device.sample_faults`, same
            shape, or None; stuck cells are read once (round 1) and never pulsed.

    Returns:
        (G, stats): G in S, shape of ``target``; ``stats.row_steps`` (..., M).
    """
    G, stats = program_one_shot(target, hw, gen)
    dev.apply_faults(G, faults, hw)
    s = dev.step_fraction(hw)
    if s is None or hw.programming.max_iters < 1:  # continuous cells: nothing to verify
        return G, stats
    r = dev.g_range(hw)
    gmin = hw.device.g_min
    tol = hw.programming.tolerance * s
    n_max = hw.device.update.max_pulses
    ncol = target.shape[-1] if target.dim() else 1
    row_steps = stats.row_steps.reshape(-1).clone()
    Gf = G.view(-1)

    idx, err = _first_read(G, target, hw, gen, tol, faults)
    stats.verify_reads += float(target.numel())
    t_a = (target.reshape(-1).index_select(0, idx) - gmin) / r   # normalised targets
    g_a = (Gf.index_select(0, idx) - gmin) / r                  # normalised states
    gain_a = None if gain is None else gain.reshape(-1).index_select(0, idx)
    for it in range(hw.programming.max_iters):
        if it > 0:  # verify read of the active cells, then drop the converged ones
            stats.verify_reads += float(idx.numel())
            sd = _read_sd(g_a * r + gmin, hw)
            err = t_a - g_a
            if isinstance(sd, torch.Tensor) or sd > 0:
                noise = torch.randn(idx.shape, generator=gen, device=G.device, dtype=G.dtype)
                err.sub_(noise.mul_(sd))
            keep = torch.nonzero(err.abs() > tol).squeeze(1)
            idx, err, t_a, g_a = (v.index_select(0, keep) for v in (idx, err, t_a, g_a))
            gain_a = None if gain_a is None else gain_a.index_select(0, keep)
        if idx.numel() == 0:
            break
        n = torch.round(err.abs() / s).clamp_(1, n_max)
        z = torch.randn(idx.shape, generator=gen, device=G.device, dtype=G.dtype)
        g_a = dev.apply_pulses(g_a, n, hw, depress=err < 0, gain=gain_a, noise=z)
        Gf.index_copy_(0, idx, g_a * r + gmin)
        stats.pulses += float(n.sum())
        stats.cells_written += int(idx.numel())
        rmax = torch.zeros_like(row_steps).scatter_reduce_(0, idx // ncol, n, "amax")
        row_steps += rmax
        stats.iterations = it + 1
    stats.row_steps = row_steps.view(stats.row_steps.shape)
    return G, stats
