"""Iterative program-and-verify: one-shot first, then read, compare, correct.

Up to ``max_iters`` rounds of: read every unconverged cell (with per-read noise), and give
each cell whose read-back differs from its target by more than ``tolerance`` pulse steps a
train of correcting pulses (SET or RESET by the sign of the error; pulse count = rounded
error / step, at most ``max_pulses``) through the device model (soft bounds, asymmetry,
device-to-device gain, cycle-to-cycle noise). Vectorised over all cells; the loop runs over
rounds only.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from snnx.config.schema import KW, spec
from snnx.hw.programming import ProgramStats
from snnx.hw.programming.one_shot import program_one_shot


@dataclasses.dataclass(**KW)
class Params:
    """Program-and-verify loop."""

    max_iters: int = spec(8, lo=1, hi=1000, doc="verify iterations at most")
    tolerance: float = spec(0.5, lo=0, lo_open=True, hi=100,
                            doc="verify stops for a cell within tolerance * step of target")


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
    if s is None:  # continuous cells: verify cannot improve on an exact analog write
        return G, stats
    r = dev.g_range(hw)
    gmin = hw.device.g_min
    tol = params.tolerance * s
    noise_model = read_noise(hw)
    t_norm = (target - gmin) / r
    active = torch.ones_like(G, dtype=torch.bool)
    for it in range(params.max_iters):
        g = (G - gmin) / r
        var = noise_model.cell(G, r)
        noise = torch.randn(G.shape, generator=gen, device=G.device, dtype=G.dtype)
        g_read = g + torch.sqrt(var) * noise if var is not None else g
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


class Verify:
    """Program-and-verify (:func:`program_verify`)."""

    Params = Params

    def __init__(self, params: Params, hw: Any) -> None:
        self.params, self.hw = params, hw

    def program(self, target: Any, gen: Any, gain: Any = None, faults: Any = None) -> tuple:
        return program_verify(target, self.hw, gen, gain, faults, self.params)
