"""RandomSource keeps its pools as a function of a few counters: lean state, exact resume."""

import numpy as np
import pytest
import torch
from scipy import stats

from snnx.hw.rng import CHUNKS, RENEW, RandomSource


def _requests(src, sizes):
    return [torch.cat([src.normal(n).clone(), src.uniform(n).clone()]) for n in sizes]


def _nbytes(state) -> int:
    if isinstance(state, dict):
        return sum(_nbytes(v) for v in state.values())
    if isinstance(state, torch.Tensor):
        return state.numel() * state.element_size()
    return 8


SIZES = [300, 77, 1000, 513] * 200


def test_state_holds_no_pool_and_resumes_bit_identically():
    a = RandomSource(5, pool_size=1 << 12)
    _requests(a, SIZES)  # enough to renew many chunks
    assert a._renewed["normal"] > CHUNKS  # the cursor went round the pool
    state = a.state_dict()
    assert _nbytes(state) < 6000  # generator state (5 kB) + counters, no 2 x 16 kB pools
    b = RandomSource(5, pool_size=1 << 12)
    b.load_state_dict(state)
    for x, y in zip(_requests(a, SIZES), _requests(b, SIZES)):
        assert torch.equal(x, y)


def test_undoing_a_measurement_restores_the_stream():
    a = RandomSource(1, pool_size=1 << 13)
    _requests(a, SIZES[:7])
    s = a.state_dict()
    want = _requests(a, SIZES[:30])
    a.load_state_dict(s)
    assert all(torch.equal(x, y) for x, y in zip(want, _requests(a, SIZES[:30])))


def test_pool_is_renewed_at_the_stated_rate():
    n = 1 << 12
    a = RandomSource(2, pool_size=n)
    first = a._pool("normal").clone()
    req = n // 4
    for _ in range(RENEW * 4):  # RENEW pool lengths requested: every chunk redrawn once
        a.normal(req)
    assert a._renewed["normal"] == CHUNKS
    now = a._pool("normal")
    changed = (now != first).reshape(CHUNKS, -1).all(1)
    assert bool(changed.all())


def test_pooled_values_have_the_exact_marginals():
    a = RandomSource(3, pool_size=1 << 14)
    for _ in range(300):  # past the first renewals: fresh and initial chunks side by side
        a.normal(4000), a.uniform(4000)
    assert a._renewed["normal"] > 10
    z, u = a._pool("normal").numpy(), a._pool("uniform").numpy()
    assert stats.kstest(z, "norm").pvalue > 1e-3
    assert stats.kstest(u, "uniform").pvalue > 1e-3


@pytest.mark.parametrize("size", [1 << 10, 1 << 16])
def test_chunks_do_not_repeat_each_other(size):
    a = RandomSource(4, pool_size=size)
    pool = a._pool("uniform").reshape(CHUNKS, -1).numpy()
    assert len(np.unique(pool[:, 0])) == CHUNKS
