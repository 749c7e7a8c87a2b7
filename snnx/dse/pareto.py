"""Pareto fronts and hypervolume for the search's objectives (numpy only).

Everything here works on *minimisation* points: :func:`normalise` turns raw objective
values into ``[0, 1]`` per objective, 0 the best end of the objective's bounds and 1 the
worst (``maximize`` objectives are flipped), so that objectives of different units weigh
alike. The hypervolume is the volume dominated by a set of points and bounded by a fixed
reference point ``r`` (default 1.1 in every normalised objective, a little worse than the
worst bound, so that the extreme points of a front still count):

.. math::  HV(P) = \\lambda\\Big(\\bigcup_{p \\in P} [p_1, r_1] \\times \\dots \\times [p_d, r_d]\\Big)

computed exactly by slicing along the last objective (Zitzler's HSO recursion; Knowles
et al. 2003 / While et al. 2006): sort the points by that objective, and between two
consecutive values the slice is the (d-1)-dimensional hypervolume of the points seen so far.
That is O(n^(d-1) log n): fine for the tens of non-dominated points of a design search.
METHODS.md section 4: normalise before the hypervolume and keep the reference point fixed.

Example:
    >>> import numpy as np
    >>> pts = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]])
    >>> non_dominated(pts).tolist()
    [True, True, True]
    >>> hypervolume(pts, np.array([2.0, 2.0]))   # staircase: 0.5 * 1 + 0.5 * 1.5 + 1 * 2
    3.25
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

REFERENCE = 1.1
"""The fixed reference point of the normalised objectives (every coordinate)."""


def non_dominated(points: np.ndarray) -> np.ndarray:
    """Mask of the points no other point dominates (minimisation; equal points both stay).

    Args:
        points: (n, d) objective values, smaller is better.

    Returns:
        (n,) bool.
    """
    p = np.asarray(points, dtype=float)
    if len(p) == 0:
        return np.zeros(0, dtype=bool)
    le = (p[None, :, :] <= p[:, None, :]).all(-1)   # [i, j]: j is no worse than i anywhere
    lt = (p[None, :, :] < p[:, None, :]).any(-1)    # [i, j]: j is better than i somewhere
    return ~(le & lt).any(1)


def _hv2(p: np.ndarray, ref: np.ndarray) -> float:
    p = p[np.lexsort((p[:, 1], p[:, 0]))]
    best_y = np.minimum.accumulate(p[:, 1])          # staircase: lowest y so far along x
    x_next = np.append(p[1:, 0], ref[0])
    return float(np.sum((x_next - p[:, 0]) * (ref[1] - best_y)))


def hypervolume(points: np.ndarray, ref: np.ndarray) -> float:
    """Exact hypervolume dominated by ``points`` up to ``ref`` (minimisation).

    Args:
        points: (n, d) objective values.
        ref: (d,) reference point; points not strictly better than it in every objective
            add nothing.

    Returns:
        The volume, in the product of the objectives' units (normalised: a share of [0, r]^d).
    """
    p = np.asarray(points, dtype=float).reshape(-1, len(ref))
    ref = np.asarray(ref, dtype=float)
    p = p[(p < ref).all(1)]
    if len(p) == 0:
        return 0.0
    p = p[non_dominated(p)]
    d = p.shape[1]
    if d == 1:
        return float(ref[0] - p[:, 0].min())
    if d == 2:
        return _hv2(p, ref)
    p = p[np.argsort(p[:, -1], kind="stable")]
    z_next = np.append(p[1:, -1], ref[-1])
    total = 0.0
    for i in range(len(p)):
        depth = z_next[i] - p[i, -1]
        if depth > 0:
            total += depth * hypervolume(p[: i + 1, :-1], ref[:-1])
    return total


def bounds_of(values: np.ndarray, given: Sequence[tuple[float, float] | None]
              ) -> tuple[np.ndarray, np.ndarray]:
    """Per objective ``(low, high)``: ``given[i]`` where not None, else the range of
    ``values[:, i]`` (a range of zero width is widened to one unit so that normalising never
    divides by zero).

    Args:
        values: (n, d) raw objective values (n may be 0).
        given: d entries, each ``(low, high)`` or None.
    """
    d = len(given)
    v = np.asarray(values, dtype=float).reshape(-1, d)
    lo = v.min(0) if len(v) else np.zeros(d)
    hi = v.max(0) if len(v) else np.ones(d)
    for i, b in enumerate(given):
        if b is not None:
            lo[i], hi[i] = b
    hi = np.where(hi > lo, hi, lo + 1.0)
    return lo, hi


def normalise(values: np.ndarray, directions: Sequence[str], lo: np.ndarray,
              hi: np.ndarray) -> np.ndarray:
    """Raw objective values (n, d) -> minimisation points: 0 = the best bound, 1 = the worst.

    ``maximize``: ``(hi - v) / (hi - lo)``; ``minimize``: ``(v - lo) / (hi - lo)``.
    """
    v = np.asarray(values, dtype=float).reshape(-1, len(directions))
    span = hi - lo
    sign = np.array([d == "maximize" for d in directions])
    return np.where(sign, (hi - v) / span, (v - lo) / span)


def hypervolume_curve(values: np.ndarray, counted: np.ndarray, directions: Sequence[str],
                      lo: np.ndarray, hi: np.ndarray, ref: float = REFERENCE) -> np.ndarray:
    """Hypervolume of the front of the counted points seen so far, after each point.

    Args:
        values: (n, d) raw objective values in the order the trials finished.
        counted: (n,) bool: which points belong to the front (full-fidelity trials); the
            others (cheap screening trials) cost compute but add no point.
        directions, lo, hi: as :func:`normalise`.
        ref: reference coordinate of the normalised objectives.

    Returns:
        (n,) normalised hypervolume after each trial (non-decreasing).
    """
    pts = normalise(values, directions, lo, hi)
    refv = np.full(len(directions), float(ref))
    out = np.zeros(len(pts))
    front = np.zeros((0, len(directions)))
    hv = 0.0
    for i, (p, keep) in enumerate(zip(pts, np.asarray(counted, dtype=bool))):
        if keep and np.isfinite(p).all():
            front = np.vstack([front, p])
            front = front[non_dominated(front)]
            hv = hypervolume(front, refv)
        out[i] = hv
    return out
