"""RandomSource: requests larger than the pool are streamed from pool windows."""

import pytest
import torch
from scipy import stats

from snnx.hw import rng as R
from snnx.hw.rng import RandomSource

torch.set_num_threads(1)


@pytest.fixture
def small_pool(monkeypatch):
    """Shrink the pool limit and the window so that 'large' requests are cheap."""
    monkeypatch.setattr(R, "MAX_POOL", 1 << 14)
    monkeypatch.setattr(R, "STREAM_WINDOW", 1 << 8)


def best_shift_agreement(A: torch.Tensor, B: torch.Tensor, probes: int = 24) -> float:
    """Largest fraction of positions i with B[i] == A[i + s] over the shifts s that some
    probe value of B reveals (values are continuous: equality means the same pool entry)."""
    n = B.numel()
    best = 0.0
    for q in torch.linspace(0, n - 1, probes).long().tolist():
        for p in torch.nonzero(A == B[q]).flatten().tolist():
            s = p - q
            lo, hi = max(0, -s), min(n, n - s)
            best = max(best, float((A[lo + s:hi + s] == B[lo:hi]).double().sum()) / n)
    return best


@pytest.mark.parametrize("kind", ["uniform", "normal"])
def test_large_request_has_exact_marginals(small_pool, kind):
    rs = RandomSource(3, dtype=torch.float64, pool_size=1 << 10)
    n = 5 * R.MAX_POOL + 123                     # streamed, not a multiple of the window
    x = getattr(rs, kind)(n).clone()
    assert rs.pool_size == R.MAX_POOL            # the streamed path grew the pools
    assert x.shape == (n,) and torch.isfinite(x).all()
    sub = x[torch.randperm(n, generator=torch.Generator().manual_seed(0))[:4000]].numpy()
    cdf = "uniform" if kind == "uniform" else "norm"
    assert stats.kstest(sub, cdf).pvalue > 1e-3
    # every part of the request is filled: means of the four quarters
    mu, sd = (0.5, 12 ** -0.5) if kind == "uniform" else (0.0, 1.0)
    for part in x.chunk(4):
        assert abs(float(part.mean()) - mu) < 5 * sd / part.numel() ** 0.5 * 2  # <= 2x reuse
    # one value may recur only as part of a whole window, never as one shifted copy
    assert best_shift_agreement(x[: n // 2], x[n // 2: 2 * (n // 2)]) < 0.2


def test_consecutive_large_requests_are_not_shifted_copies(small_pool):
    rs = RandomSource(5, pool_size=1 << 10)
    n = 3 * R.MAX_POOL
    A = rs.uniform(n).clone()
    B = rs.uniform(n).clone()
    assert not torch.equal(A, B)
    agree = best_shift_agreement(A, B)
    assert 0.0 < agree < 0.2    # some shared windows are expected, a whole shift is not
    C = rs.normal(6, n // 6).clone()            # 2-D, other kind
    assert C.shape == (6, n // 6) and not torch.equal(C, rs.normal(6, n // 6))


def test_large_request_at_full_scale_marginals():
    """The real limits: a 4096 x 4096 update's uniforms."""
    rs = RandomSource(11)
    u = rs.uniform(4096, 4096)
    assert rs.pool_size == R.MAX_POOL and u.shape == (4096, 4096)
    idx = torch.randint(0, u.numel(), (5000,), generator=torch.Generator().manual_seed(1))
    assert stats.kstest(u.reshape(-1)[idx].numpy(), "uniform").pvalue > 1e-3
    assert abs(float(u.mean()) - 0.5) < 1e-3 and float(u.min()) >= 0 and float(u.max()) < 1


def test_state_dict_resumes_bit_identically_through_streamed_requests(small_pool):
    def sequence(rs):
        return [rs.uniform(40, 1000).clone(), rs.normal(300).clone(),
                rs.normal(3 * R.MAX_POOL).clone(), rs.uniform(7).clone()]

    a = RandomSource(9, pool_size=1 << 10)
    a.uniform(2 * R.MAX_POOL)                   # streamed, grows the pools
    a.normal(100)
    state = a.state_dict()
    expect = sequence(a)
    b = RandomSource(1234, pool_size=1 << 10)
    b.load_state_dict(state)
    got = sequence(b)
    assert all(torch.equal(x, y) for x, y in zip(expect, got))


def test_exact_mode_draws_from_the_generator(small_pool):
    n = 3 * R.MAX_POOL                          # no pooling at any size in exact mode
    rs = RandomSource(4, pool_size=None)
    g = torch.Generator().manual_seed(4)
    assert torch.equal(rs.uniform(n), torch.empty(n).uniform_(generator=g))
    rs = RandomSource(4, pool_size=1 << 10, stream=False)  # large requests exact, no pool
    g = torch.Generator().manual_seed(4)
    assert torch.equal(rs.normal(n), torch.empty(n).normal_(generator=g))
    assert rs.pool_size == 1 << 10
