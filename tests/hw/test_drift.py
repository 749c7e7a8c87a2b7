"""Relaxation and drift after programming (snnx.hw.drift.power_law)."""

import doctest
import math

import pytest
import torch
from scipy import stats

from snnx.errors import ConfigError, ShapeError
from snnx.hw.drift import power_law as drift
from snnx.hw.drift.power_law import Params as DriftParams
from snnx.hw.drift.power_law import conductance_at, draw_drift, mean_exponent

G_MIN, G_MAX = 2e-6, 100e-6
N = 20000


def draw(G0, seed=0, **kw):
    return draw_drift(G0, DriftParams(**kw), torch.Generator().manual_seed(seed),
                      g_min=G_MIN, g_max=G_MAX)


def targets(n=N, seed=1):
    g = torch.Generator().manual_seed(seed)
    return G_MIN + (G_MAX - G_MIN) * torch.rand(n, generator=g, dtype=torch.float64)


def test_t0_gives_the_programmed_conductance():
    G0 = targets()
    st = draw(G0, t0=20.0)
    assert torch.equal(conductance_at(G0, st, 20.0), G0)
    assert not torch.equal(conductance_at(G0, st, 21.0), G0)


def test_monotone_decay_for_positive_exponents_without_relaxation():
    G0 = targets(2000)
    st = draw(G0, relax_sigma=0.0, nu_min=0.01)
    ts = torch.logspace(0, 7, 30, dtype=torch.float64).view(-1, 1)   # 1 s .. 4 months
    G = conductance_at(G0, st, ts)
    assert G.shape == (30, 2000)
    assert bool((G[1:] <= G[:-1]).all()) and bool((G[-1] < G0).all())
    # independent form check on unclipped cells: log G linear in log t with slope -nu
    ok = G[-1] > G_MIN
    slope = (torch.log(G[-1]) - torch.log(G[10])) / (torch.log(ts[-1]) - torch.log(ts[10]))
    assert torch.allclose(slope[ok], -st.nu[ok])


def test_draw_is_frozen():
    G0 = targets(500)
    st = draw(G0)
    a = conductance_at(G0, st, 3600.0)
    conductance_at(G0, st, 1e6)
    assert torch.equal(conductance_at(G0, st, 3600.0), a)
    assert torch.equal(conductance_at(G0, draw(G0), 3600.0), a)         # same seed, same draw
    assert not torch.equal(conductance_at(G0, draw(G0, seed=5), 3600.0), a)
    # relaxation keeps each cell's direction over time (nu = 0: pure relaxation)
    st0 = draw(G0, nu_mean=0.0, nu_std=0.0, nu_slope=0.0)
    d1 = conductance_at(G0, st0, 10.0) - G0
    d2 = conductance_at(G0, st0, 1e4) - G0
    inside = (d2 + G0 > G_MIN) & (d2 + G0 < G_MAX)
    assert torch.allclose(d2[inside], 4 * d1[inside], rtol=1e-9, atol=0)


@pytest.mark.parametrize("t", [10.0, 1e3, 1e5])
def test_relaxation_spread_grows_with_log_t(t):
    G0 = torch.full((N,), 0.5 * (G_MIN + G_MAX), dtype=torch.float64)
    p = dict(nu_mean=0.0, nu_std=0.0, nu_slope=0.0, relax_sigma=0.004)
    d = conductance_at(G0, draw(G0, **p), t) - G0
    sigma = 0.004 * (G_MAX - G_MIN) * math.log10(t)
    lo, hi = stats.chi2.ppf([0.0005, 0.9995], N)
    assert lo <= float((d ** 2).sum()) / sigma ** 2 <= hi
    assert abs(float(d.mean())) < 4 * sigma / math.sqrt(N)


def test_exponent_statistics_match_the_configuration():
    G0 = torch.full((N,), 100e-6, dtype=torch.float64)  # at g_ref: mean = nu_mean
    st = draw(G0, nu_mean=0.05, nu_std=0.01)  # clipping at 0 is a 5-sigma event
    lo, hi = stats.chi2.ppf([0.0005, 0.9995], N - 1)
    assert lo <= (N - 1) * float(st.nu.var()) / 0.01 ** 2 <= hi
    assert abs(float(st.nu.mean()) - 0.05) < 4 * 0.01 / math.sqrt(N)
    # low conductance drifts more: two decades below g_ref -> + 2 * slope
    low = torch.full((N,), 1e-6, dtype=torch.float64)
    st_low = draw(low, nu_mean=0.05, nu_std=0.01, nu_slope=0.02)
    assert float(mean_exponent(low, DriftParams())[0]) == pytest.approx(0.09)
    assert abs(float(st_low.nu.mean()) - 0.09) < 4 * 0.01 / math.sqrt(N)
    # clipping
    st_c = draw(G0, nu_mean=0.05, nu_std=0.2, nu_min=0.0, nu_max=0.1)
    assert float(st_c.nu.min()) == 0.0 and float(st_c.nu.max()) == 0.1


def test_errors():
    G0 = targets(10)
    st = draw(G0)
    with pytest.raises(ConfigError, match=r"^t: must be finite and >= t0"):
        conductance_at(G0, st, 0.5)
    with pytest.raises(ShapeError, match=r"^G0:"):
        conductance_at(targets(11), st, 2.0)
    with pytest.raises(ConfigError, match=r"^nu_std:"):
        DriftParams(nu_std=-0.1)
    with pytest.raises(ConfigError, match=r"^t0:"):
        DriftParams(t0=0.0)
    with pytest.raises(ConfigError, match=r"^nu_min:"):
        DriftParams(nu_min=0.3, nu_max=0.2)


def test_docstring_example():
    assert doctest.testmod(drift).failed == 0
