"""Pareto sets and hypervolume against independent computations (brute force, a grid)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from snnx.dse.pareto import (bounds_of, hypervolume, hypervolume_curve, non_dominated,
                             normalise)


def _brute_non_dominated(p):
    keep = []
    for i in range(len(p)):
        keep.append(not any(np.all(p[j] <= p[i]) and np.any(p[j] < p[i])
                            for j in range(len(p)) if j != i))
    return np.array(keep)


def _grid_hypervolume(p, ref):
    """Exact volume by coordinate compression: every cell of the grid spanned by the points'
    coordinates and the reference is either dominated as a whole or not at all."""
    p = p[(p < ref).all(1)]
    axes = [np.unique(np.append(p[:, k], ref[k])) for k in range(p.shape[1])]
    total = 0.0
    for cell in itertools.product(*[range(len(a) - 1) for a in axes]):
        low = np.array([axes[k][c] for k, c in enumerate(cell)])
        if (p <= low).all(1).any():
            total += np.prod([axes[k][c + 1] - axes[k][c] for k, c in enumerate(cell)])
    return total


@pytest.mark.parametrize("d", [2, 3, 4])
def test_non_dominated_matches_brute_force(d):
    rng = np.random.default_rng(d)
    p = rng.integers(0, 4, size=(30, d)).astype(float)   # ties and duplicates on purpose
    assert (non_dominated(p) == _brute_non_dominated(p)).all()


@pytest.mark.parametrize("d,n", [(1, 5), (2, 8), (3, 7), (4, 6)])
def test_hypervolume_matches_grid(d, n):
    rng = np.random.default_rng(10 * d + n)
    for _ in range(5):
        p = rng.random((n, d))
        p[0] = p[1]                                          # a duplicate point
        ref = np.full(d, 1.1)
        assert hypervolume(p, ref) == pytest.approx(_grid_hypervolume(p, ref), rel=1e-12)


def test_hypervolume_edge_cases():
    ref = np.array([1.0, 1.0, 1.0])
    assert hypervolume(np.zeros((0, 3)), ref) == 0.0
    assert hypervolume(np.array([[1.0, 0.0, 0.0]]), ref) == 0.0     # not better than ref
    assert hypervolume(np.array([[0.0, 0.0, 0.0]]), ref) == pytest.approx(1.0)
    assert hypervolume(np.array([[0.5, 0.5, 0.5]]), ref) == pytest.approx(0.125)


def test_normalise_flips_maximised_objectives_and_bounds_are_fixed():
    v = np.array([[0.8, 2e-6], [0.6, 1e-6], [0.9, 4e-6]])
    lo, hi = bounds_of(v, [None, None])
    assert lo.tolist() == [0.6, 1e-6] and hi.tolist() == [0.9, 4e-6]
    n = normalise(v, ["maximize", "minimize"], lo, hi)
    assert n[2, 0] == pytest.approx(0.0) and n[1, 0] == pytest.approx(1.0)   # best acc -> 0
    assert n[1, 1] == pytest.approx(0.0) and n[2, 1] == pytest.approx(1.0)
    lo, hi = bounds_of(v, [(0.0, 1.0), None])                # given bounds win
    assert lo[0] == 0.0 and hi[0] == 1.0
    lo, hi = bounds_of(np.array([[1.0], [1.0]]), [None])      # zero width: widened
    assert hi[0] > lo[0]


def test_hypervolume_curve_counts_only_full_points_and_never_decreases():
    rng = np.random.default_rng(0)
    v = rng.random((12, 3))
    counted = np.arange(12) % 3 == 0
    dirs = ["maximize", "minimize", "minimize"]
    lo, hi = bounds_of(v, [None] * 3)
    curve = hypervolume_curve(v, counted, dirs, lo, hi)
    assert (np.diff(curve) >= -1e-15).all()
    assert (curve[~counted & (np.arange(12) > 0)] ==
            curve[np.flatnonzero(~counted & (np.arange(12) > 0)) - 1]).all()
    pts = normalise(v[counted], dirs, lo, hi)
    assert curve[-1] == pytest.approx(_grid_hypervolume(pts, np.full(3, 1.1)))
