"""One-shot programming: one noisy write per cell.

``G = clip(G_target + prog_sigma (g_max - g_min) xi)``, xi ~ N(0, 1): a fresh error per
programming event that then persists (read noise does not).
"""

from __future__ import annotations

from typing import Any

from snnx.hw.programming import ProgramStats


def program_one_shot(target: Any, hw: Any, gen: Any) -> tuple[Any, ProgramStats]:
    """One noisy write per cell. ``target`` in S, any shape; returns (G, stats)."""
    import torch

    r = hw.device.g_max - hw.device.g_min
    G = target.clone()
    sig = hw.noise.prog_sigma
    if sig > 0:
        z = torch.randn(G.shape, generator=gen, device=G.device, dtype=G.dtype)
        G.add_(z, alpha=sig * r)
    G.clamp_(hw.device.g_min, hw.device.g_max)
    n = target.numel()
    rows = torch.ones(target.shape[:-1], device=target.device, dtype=target.dtype)
    return G, ProgramStats(cells_written=n, pulses=float(n), row_steps=rows)


class OneShot:
    """One write pulse per cell (programming error ``noise.prog_sigma``)."""

    Params = None

    def __init__(self, params: None, hw: Any) -> None:
        self.hw = hw

    def program(self, target: Any, gen: Any, gain: Any = None, faults: Any = None) -> tuple:
        """One noisy write; stuck cells are forced by the caller."""
        return program_one_shot(target, self.hw, gen)
