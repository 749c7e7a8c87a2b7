"""Programming schemes: how target conductances are written (one file each).

``programming.scheme`` in a hardware model names the entry; its parameters sit beside it
(``programming.verify: {max_iters: 8}``). A scheme is a class with ``Params`` (or
``Params = None``), ``__init__(self, params, hw)`` and

    program(target, gen, gain, faults) -> (G, ProgramStats)

``target`` are conductances in S of any shape (..., M, N); ``gain`` the device-to-device
pulse-step multipliers (or None); ``faults`` the stuck-at masks (or None). A scheme books
nothing itself: the tile turns :class:`ProgramStats` into ledger entries. Scheme modules
import torch inside their functions (validating a hardware model stays torch-free).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from snnx.config.registry import Registry

PROGRAMMING = Registry("programming scheme", {
    "one_shot": ("snnx.hw.programming.one_shot:OneShot",
                 "one noisy write per cell (error noise.prog_sigma persists)"),
    "verify": ("snnx.hw.programming.verify:Verify",
               "iterative program-and-verify with correcting pulse trains"),
    "vipi": ("snnx.hw.programming.vipi:VIPI",
             "OpenMENA VIPI: per-cell PI write-verify with growing pulse voltage (METHODS.md 9)"),
})


@dataclasses.dataclass
class ProgramStats:
    """What a programming event did (counts, not costs)."""

    cells_written: int = 0       #: cells that received at least one pulse
    pulses: float = 0.0          #: total write pulses
    verify_reads: float = 0.0    #: cell reads made by the verify loop
    iterations: int = 0          #: verify rounds run
    row_steps: Any = None        #: (..., M) sum over rounds of each row's max pulses
    #: summed pulse widths in nominal pulses when pulses differ in width (energy is booked
    #: per nominal pulse); None = every pulse is one nominal pulse
    pulse_equivalents: float | None = None
    converged: Any = None        #: bool per cell: ended within the scheme's tolerance, or None


def row_max(row: Any, values: Any, n_rows: int) -> Any:
    """(n_rows,) largest of ``values`` whose row index is ``row`` (0 for a row with none):
    a row's write time is set by its longest pulse train."""
    import torch

    out = torch.zeros(n_rows, dtype=values.dtype, device=values.device)
    return out.scatter_reduce_(0, row, values, reduce="amax")


def verify_readback(G: Any, target: Any, hw: Any, gen: Any, threshold: float) -> tuple:
    """One verify read of every cell (with the model's per-cell read noise) against its
    target: (bool mask of cells off by more than ``threshold`` x (g_max - g_min), stats
    with one verify read per cell). G, target in S, same shape."""
    import torch

    from snnx.hw.noise import read_noise

    r = hw.device.g_max - hw.device.g_min
    rn = read_noise(hw)
    var, shift = rn.cell(G, r), rn.cell_shift(G, r)
    if shift is not None:
        G = G + r * shift
    if var is not None:
        G = G + r * var.sqrt() * torch.randn(G.shape, generator=gen, device=G.device,
                                             dtype=G.dtype)
    return (G - target).abs() > threshold * r, ProgramStats(verify_reads=float(G.numel()),
                                                            iterations=1)


def program(target: Any, hw: Any, gen: Any, gain: Any = None, faults: Any = None) -> tuple:
    """Write ``target`` with the scheme ``hw.programming.scheme``; returns (G, stats)."""
    scheme = PROGRAMMING.get(hw.programming.scheme)(hw.programming_params, hw)
    return scheme.program(target, gen, gain, faults)


__all__ = ["PROGRAMMING", "ProgramStats", "program", "verify_readback"]
