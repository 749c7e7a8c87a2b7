"""Timing helper shared by the benchmark scripts (run as ``python bench/<name>.py``)."""

from __future__ import annotations

import statistics
import time


def median_time(fn, repeats: int, warmup: int = 5, clock=time.perf_counter) -> float:
    """Median time of ``fn()`` in seconds, after ``warmup`` untimed calls: wall time, or
    with ``clock=time.process_time`` the CPU time of this process (all its threads)."""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        ts.append(clock() - t0)
    return statistics.median(ts)
