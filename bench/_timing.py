"""Timing helper shared by the benchmark scripts (run as ``python bench/<name>.py``)."""

from __future__ import annotations

import statistics
import time


def median_time(fn, repeats: int, warmup: int = 5) -> float:
    """Median wall time of ``fn()`` in seconds, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)
