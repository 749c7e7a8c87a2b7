"""Iterative program-and-verify: one-shot first, then read, compare, correct.

Up to ``max_iters`` rounds of: read every unconverged cell (with per-read noise), and give
each cell whose read-back differs from its target by more than ``tolerance`` pulse steps a
train of correcting pulses (SET or RESET by the sign of the error; pulse count = rounded
error / step, at most ``max_pulses``) through the device model (soft bounds, asymmetry,
device-to-device gain, cycle-to-cycle noise). Vectorised over all cells; the loop runs over
rounds only.

Active set. The first verify read covers every cell; only ~5-7 % of them are off target
after a typical one-shot write (rram_generic), and fewer after each round. Later rounds
therefore work on the *active set* only: the flat indices of the unconverged cells and
gathered copies of their state, target and gain, compacted after every read; the new states
are scattered back into the full array. Stuck cells (faults) can never converge: they take
part in the first read (it is what tells the controller they are off) and then leave the
active set at once, without pulses. The first read works in place on full-size buffers
(in chunks of ``CHUNK`` cells, so its scratch memory is bounded), later rounds cost O(active cells).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from snnx.config.schema import KW, spec
from snnx.hw.programming import ProgramStats, row_max
from snnx.hw.programming.one_shot import program_one_shot

#: cells per chunk of the first (full-array) verify read; bounds its scratch memory
CHUNK = 1 << 22


@dataclasses.dataclass(**KW)
class Params:
    """Program-and-verify loop."""

    max_iters: int = spec(8, lo=1, hi=1000, doc="verify iterations at most")
    tolerance: float = spec(0.5, lo=0, lo_open=True, hi=100,
                            doc="verify stops for a cell within tolerance * step of target")


def _first_read(G: Any, target: Any, hw: Any, gen: Any, tol: float, faults) -> tuple:
    """Verify read of every cell, in chunks of ``CHUNK`` cells (bounded scratch memory).

    Returns:
        (flat indices of the off-target cells that are not stuck, their read-back error
        (target - read) / range).
    """
    import torch

    from snnx.hw import device as dev
    from snnx.hw.noise import read_noise

    r = dev.g_range(hw)
    noise = read_noise(hw)
    Gf, tf = G.view(-1), target.reshape(-1)
    ff = None if faults is None else (faults[0].reshape(-1), faults[1].reshape(-1))
    idx, errs = [], []
    for lo in range(0, Gf.numel(), CHUNK):
        g = Gf[lo:lo + CHUNK]
        if noise.silent is False:
            err = torch.randn(g.shape, generator=gen, device=g.device, dtype=g.dtype)
            err.mul_(noise.cell_sd(g, r)).neg_()
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


def program_verify(target: Any, hw: Any, gen: Any, gain: Any, faults: Any,
                   params: Params | None = None) -> tuple[Any, ProgramStats]:
    """Iterative program-and-verify (see module docstring). ``target`` in S, (..., M, N).

    Args:
        target: target conductances in S.
        hw: hardware model.
        gen: generator for programming error, read noise and c2c noise.
        gain: fixed per-cell pulse-step multipliers (device-to-device) or None.
        faults: stuck-at masks from :func:`snnx.hw.device.sample_faults` or None; stuck cells
            are read as stuck and never converge (the loop gives up on them after max_iters).
        params: loop parameters (default: the hardware model's ``programming.verify``).

    Returns:
        (G, stats).
    """
    import torch

    from snnx.hw import device as dev
    from snnx.hw.noise import read_noise

    params = params if params is not None else hw.programming.params.get("verify", Params())
    G, stats = program_one_shot(target, hw, gen)
    dev.apply_faults(G, faults, hw)
    s = dev.step_fraction(hw)
    if s is None or params.max_iters < 1:  # continuous cells: nothing to verify
        return G, stats
    r = dev.g_range(hw)
    gmin = hw.device.g_min
    tol = params.tolerance * s
    n_max = hw.device.update.max_pulses
    ncol = target.shape[-1] if target.dim() else 1
    row_steps = stats.row_steps.reshape(-1).clone()
    Gf = G.view(-1)

    idx, err = _first_read(G, target, hw, gen, tol, faults)
    stats.verify_reads += float(target.numel())
    t_a = (target.reshape(-1).index_select(0, idx) - gmin) / r   # normalised targets
    g_a = (Gf.index_select(0, idx) - gmin) / r                  # normalised states
    gain_a = None if gain is None else gain.reshape(-1).index_select(0, idx)
    for it in range(params.max_iters):
        if it > 0:  # verify read of the active cells, then drop the converged ones
            stats.verify_reads += float(idx.numel())
            sd = read_noise(hw).cell_sd(g_a * r + gmin, r)
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
        row_steps += row_max(idx // ncol, n, row_steps.numel())
        stats.iterations = it + 1
    stats.row_steps = row_steps.view(stats.row_steps.shape)
    return G, stats


class Verify:
    """Program-and-verify (:func:`program_verify`)."""

    Params = Params

    def __init__(self, params: Params, hw: Any) -> None:
        self.params, self.hw = params, hw

    def program(self, target: Any, gen: Any, gain: Any = None, faults: Any = None) -> tuple:
        return program_verify(target, self.hw, gen, gain, faults, self.params)
