"""Synaptogen-like device (snnx.hw.synaptogen): statistics against the configuration."""

import doctest
import math

import numpy as np
import pytest
import torch
from scipy import optimize, stats

from snnx.errors import ConfigError, ShapeError
from snnx.hw import synaptogen
from snnx.hw.synaptogen import SynaptogenDevice, SynaptogenParams, read_noise_sigma

N = 12000


def cycles(dev, st, gen, n_cycles):
    """Run full RESET + SET cycles on every cell; returns the state and the per-cycle
    deviations of the features from each device's mean (n_cycles, 4, N) and log10 R."""
    allm = torch.ones(st.shape, dtype=torch.bool)
    dev_f, log_hrs, log_lrs = [], [], []
    for _ in range(n_cycles):
        st = dev.switch(st, None, allm, gen)
        log_hrs.append(torch.log10(dev.resistance(st)))
        st = dev.switch(st, allm, None, gen)
        log_lrs.append(torch.log10(dev.resistance(st)))
        dev_f.append(st.y - st.mu)
    return st, torch.stack(dev_f), torch.stack(log_hrs), torch.stack(log_lrs)


@pytest.fixture
def run():
    dev = SynaptogenDevice()
    gen = torch.Generator().manual_seed(7)
    st = dev.init((N,), gen)
    st = dev.switch(st, torch.ones(N, dtype=torch.bool), None, gen)
    return (dev,) + cycles(dev, st, gen, 4)


def test_cycle_to_cycle_std_matches_configuration_chi_square(run):
    dev, _, d, log_hrs, _ = run
    sig = np.asarray(dev.params.c2c_sigma)
    assert sig[1] == 0.18
    lo, hi = stats.chi2.ppf([0.0005, 0.9995], N - 1)
    for t in (0, 3):  # the history starts stationary: already true at the first cycle
        for f in range(4):
            s2 = float(d[t, f].var())  # device means are known: deviation per device
            assert lo <= (N - 1) * s2 / sig[f] ** 2 <= hi, (t, f, math.sqrt(s2))
    # pooled over devices, log10 R_HRS also carries the mixture's d2d spread
    p = dev.params
    w, m, s = p.weights(), np.asarray(p.gmm_means)[:, 1], np.asarray(p.gmm_stds)[:, 1]
    total = math.sqrt(np.sum(w * (s ** 2 + m ** 2)) - np.sum(w * m) ** 2 + sig[1] ** 2)
    assert float(log_hrs[2].std()) == pytest.approx(total, rel=0.04)


def test_lag1_autocorrelation_matches_closed_form_and_stated_value(run):
    dev, _, d, _, _ = run
    _, _, lag1 = dev.params.stationary()
    assert lag1[1] == pytest.approx(0.5, abs=1e-12)  # HRS row: a1 / (1 - a2)
    assert lag1[0] == pytest.approx(0.5444, abs=1e-3)
    for f in range(4):
        r = float(np.corrcoef(d[1, f].numpy(), d[2, f].numpy())[0, 1])
        z = (math.atanh(r) - math.atanh(lag1[f])) * math.sqrt(N - 3)  # Fisher z
        assert abs(z) < 4.0, (f, r, lag1[f])
    # memory really exists: lag-1 correlation is far from zero
    assert float(np.corrcoef(d[1, 1].numpy(), d[2, 1].numpy())[0, 1]) > 0.45


def test_mixture_weights_recovered_within_binomial_error(run):
    dev, st, _, _, _ = run
    w = dev.params.weights()
    assert w == pytest.approx([0.48 / 0.99, 0.47 / 0.99, 0.04 / 0.99])
    se = np.sqrt(w * (1 - w) / N)
    counts = np.bincount(st.comp.numpy(), minlength=3) / N
    assert np.all(np.abs(counts - w) < 4 * se), counts
    # independent: posterior responsibilities of each device's mean vector (unbiased for w)
    mu = st.mu.T.numpy()
    m, s = np.asarray(dev.params.gmm_means), np.asarray(dev.params.gmm_stds)
    like = np.stack([w[k] * stats.multivariate_normal(m[k], np.diag(s[k] ** 2)).pdf(mu)
                     for k in range(3)], 1)
    resp = (like / like.sum(1, keepdims=True)).mean(0)
    assert np.all(np.abs(resp - w) < 4 * se), resp


def test_lrs_hrs_medians(run):
    dev, _, _, log_hrs, log_lrs = run
    p = dev.params
    w, m, s = p.weights(), np.asarray(p.gmm_means), np.asarray(p.gmm_stds)
    c2c = np.asarray(p.c2c_sigma)
    for f, sample in ((1, log_hrs[3]), (0, log_lrs[3])):
        sd = np.sqrt(s[:, f] ** 2 + c2c[f] ** 2)
        cdf = lambda x: float(np.sum(w * stats.norm.cdf(x, m[:, f], sd))) - 0.5  # noqa: E731
        med = optimize.brentq(cdf, 2.0, 7.0)
        assert float(sample.median()) == pytest.approx(med, abs=0.01)
    # the quoted scale: HRS ~ 76 kOhm (log10 4.87), LRS ~ 4.5 kOhm
    assert float(log_hrs[3].median()) == pytest.approx(4.87, abs=0.03)
    assert float(log_lrs[3].median()) == pytest.approx(math.log10(4.5e3), abs=0.03)


def test_only_switching_cells_change_and_draw():
    dev = SynaptogenDevice()
    gen = torch.Generator().manual_seed(1)
    st = dev.init((6, 5), gen)
    assert bool(st.in_hrs.all())
    r_hrs = dev.resistance(st)
    assert torch.allclose(r_hrs, 10 ** st.y[1].reshape(6, 5), rtol=1e-12, atol=0)
    sel = torch.zeros(6, 5, dtype=torch.bool)
    sel[:3] = True
    st1 = dev.switch(st, sel, None, gen)  # SET: no VAR draw, LRS of the current cycle
    assert torch.equal(st1.hist, st.hist) and int(st1.cycles.sum()) == 0
    r1 = dev.resistance(st1)
    assert torch.allclose(r1[:3], 10 ** st.y[0].reshape(6, 5)[:3], rtol=1e-12, atol=0)
    assert torch.equal(r1[3:], r_hrs[3:])
    # RESET of all: only the 15 cells in LRS switch and draw a new cycle
    st2 = dev.switch(st1, None, torch.ones(6, 5, dtype=torch.bool), gen)
    moved = sel.reshape(-1)
    assert torch.equal(st2.cycles, moved.long())
    assert torch.equal(st2.hist[:, :, ~moved], st1.hist[:, :, ~moved])
    assert torch.equal(st2.hist[1:, :, moved], st1.hist[:-1, :, moved])  # history shifted
    assert not torch.equal(st2.y[:, moved], st1.y[:, moved])
    assert bool(st2.in_hrs.all())
    # the input state was not modified
    assert not bool(st1.in_hrs[moved].any())


def test_switching_thresholds():
    dev = SynaptogenDevice()
    gen = torch.Generator().manual_seed(2)
    st = dev.init((1000,), gen)
    allm = torch.ones(1000, dtype=torch.bool)
    weak = dev.switch(st, allm, None, gen, v_set=-0.8)  # between the thresholds
    expect = st.y[2] >= -0.8                            # V_set <= ... switches if v <= V_set
    assert torch.equal(~weak.in_hrs, expect)
    assert 0.2 < float(expect.double().mean()) < 0.9
    none = dev.switch(st, allm, None, gen, v_set=-0.1)
    assert bool(none.in_hrs.all())


def test_read_current_noise_and_nonlinear_iv():
    p = SynaptogenParams(bandwidth=1e10)
    dev = SynaptogenDevice(p)
    gen = torch.Generator().manual_seed(3)
    st = dev.init((4,), gen)
    st = dev.switch(st, torch.tensor([True, True, False, False]), None, gen)
    R = dev.resistance(st)
    assert torch.allclose(dev.read_current(st), 0.2 / R, rtol=1e-12, atol=0)
    # R is defined at V0, so the non-linear read agrees there
    assert torch.allclose(dev.read_current(st, nonlinear=True), 0.2 / R, rtol=1e-12, atol=0)
    for v in (0.5, -0.3, 1.0):
        f = lambda a, x: 1 + sum(c * x ** (k + 1) for k, c in enumerate(a))  # noqa: E731
        hrs = st.in_hrs.numpy()
        shape = np.where(hrs, f(p.iv_hrs, v) / f(p.iv_hrs, 0.2),
                         f(p.iv_lrs, v) / f(p.iv_lrs, 0.2))
        ref = v / R.numpy() * shape
        got = dev.read_current(st, v=v, nonlinear=True).numpy()
        assert np.allclose(got, ref, rtol=1e-12, atol=0)
    reads = torch.stack([dev.read_current(st, gen=gen) for _ in range(4000)])
    I0 = 0.2 / R
    k, q = 1.380649e-23, 1.602176634e-19
    sd = torch.sqrt(4 * k * 300 * 1e10 / R + 2 * q * I0 * 1e10)
    z = (reads - I0) / sd
    lo, hi = stats.chi2.ppf([0.0005, 0.9995], 4000)
    for c in range(4):
        assert lo <= float((z[:, c] ** 2).sum()) <= hi
        assert abs(float(z[:, c].mean())) < 4 / math.sqrt(4000)


def test_read_noise_uses_the_electron_charge():
    sd = float(read_noise_sigma(torch.tensor(100e-6, dtype=torch.float64),
                                torch.tensor(5e-4, dtype=torch.float64), 300.0, 1e8))
    assert sd == pytest.approx(math.sqrt(4 * 1.380649e-23 * 300 * 1e8 * 5e-4
                                         + 2 * 1.602176634e-19 * 1e-4 * 1e8), rel=1e-9, abs=0)
    assert sd / 100e-6 < 1e-3  # ~0.06 %: no few-% noise from Euler's number in the shot term


@pytest.mark.parametrize("kw,msg", [
    ({"var_a": (((1.1, 0, 0, 0), (0, 0, 0, 0), (0, 0, 0, 0), (0, 0, 0, 0)),)},
     "var_a: VAR is not stable"),
    ({"var_a": (((0.5, 0), (0, 0.5)),)}, "var_a: expected shape"),
    ({"noise_corr": ((1, 2, 0, 0), (2, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1))}, "noise_corr:"),
    ({"gmm_weights": (0.5, -0.5, 1.0)}, "gmm_weights:"),
    ({"c2c_sigma": (0.1, 0.18, 0.05)}, "c2c_sigma:"),
    ({"v_read": 0.0}, "v_read:"),
])
def test_bad_parameters_name_the_field(kw, msg):
    with pytest.raises(ConfigError, match=r"^" + msg.replace("(", r"\(")):
        SynaptogenParams(**kw)


def test_mask_errors():
    dev = SynaptogenDevice()
    gen = torch.Generator().manual_seed(0)
    st = dev.init((3,), gen)
    m = torch.ones(3, dtype=torch.bool)
    with pytest.raises(ShapeError, match="^set_mask: a cell cannot"):
        dev.switch(st, m, m, gen)
    with pytest.raises(ShapeError, match="^reset_mask: expected a bool"):
        dev.switch(st, None, torch.ones(4, dtype=torch.bool), gen)


def test_docstring_example():
    assert doctest.testmod(synaptogen).failed == 0
