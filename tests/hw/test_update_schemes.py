"""Update schemes and policies (snnx.hw.update), checked against independent computations:
the expected change equals -lr d^T x within its sampling error, pulse / coincidence / line
counts match an explicit loop, and the ledger books what the formulas say."""

from __future__ import annotations

import math

import pytest
import torch
from scipy.stats import chi2

import snnx.hw as hw
from snnx.errors import ConfigError
from snnx.hw import pulse_trains, update
from snnx.hw.layout import Layout
from snnx.hw.ledger import CostLedger
from snnx.hw.cost import TileCost
from snnx.hw.rng import RandomSource

LINEAR = {"noise.prog_sigma": 0.0, "noise.read.constant.sigma": 0.0, "device.stuck_at": 0.0,
          "device.soft_bounded.d2d_sigma": 0.0, "device.soft_bounded.c2c_sigma": 0.0,
          "device.levels": 4001, "periphery.adc_bits": None, "periphery.dac_bits": None}


def linear(**over) -> hw.HWConfig:
    """A linear, symmetric, noiseless device with a fine step (1/4000 of the range)."""
    return hw.load("rram_generic", **{**LINEAR, **over})


def mid_state(cfg, inp, out):
    """Layout with w_max = 1 and both sides of every pair at mid-range (no bound is hit)."""
    lay = Layout(out, inp, cfg, dtype=torch.float64)
    lay.w_max = 1.0
    mid = 0.5 * (cfg.device.g_min + cfg.device.g_max)
    return lay, torch.full(lay.cell_shape, mid, dtype=torch.float64)


def case(seed=0, n=4, inp=6, out=5):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, inp, generator=g, dtype=torch.float64),
            torch.randn(n, out, generator=g, dtype=torch.float64))


def stochastic_var(cfg, x, d, lr, dw):
    """Independent per-cell variance (in weight units^2) of one stochastic update: for each
    cycle and phase set, Binomial(BL, p q) coincidences of fixed direction."""
    u = cfg.device.update
    h = 0.5 if u.policy == "bidirectional" else 1.0
    var = torch.zeros(d.shape[1], x.shape[1], dtype=torch.float64)
    for b in range(x.shape[0]):  # test-only loop over cycles
        mx, md = float(x[b].abs().max()), float(d[b].abs().max())
        nu = h * lr * mx * md / dw
        if nu == 0:  # an empty cycle fires nothing
            continue
        bl = min(u.bl, math.ceil(nu)) if u.bl_management else u.bl
        a = math.sqrt(nu / bl)
        p = (a * x[b].abs() / mx).clamp(max=1)
        q = (a * d[b].abs() / md).clamp(max=1)
        pq = q.unsqueeze(1) * p.unsqueeze(0)
        var += (1 if h == 1 else 2) * bl * pq * (1 - pq)
    return var * dw * dw


def draws_of_dW(cfg, scheme_fn, x, d, lr, M, seed=1):
    lay, G = mid_state(cfg, x.shape[1], d.shape[1])
    W0 = lay.weights(G)
    rng = RandomSource(seed, pool_size=None, dtype=torch.float64)
    out = []
    for _ in range(M):  # test-only loop over independent draws from the same state
        counts = scheme_fn(lay, rng, x, d, lr)
        counts = counts[0] if isinstance(counts, tuple) else counts
        w = update.apply_counts(lay, G, None, None, rng, counts)
        Gn = G.clone()
        Gn.view(-1)[w.lin] = w.G_new
        out.append(lay.weights(Gn) - W0)
    return torch.stack(out), lay


def chi_square(dW, expected, var):
    M = dW.shape[0]
    z = (dW.mean(0) - expected) / (var / M).sqrt()
    return float((z * z).sum()), z.numel()


@pytest.fixture(params=["dense", "sparse"])
def path(request, monkeypatch):
    """Count coincidences by matmul or by listing them (both exact)."""
    monkeypatch.setattr(pulse_trains, "SPARSE_SHARE", 0.0 if request.param == "dense" else 2.0)
    return request.param


@pytest.mark.parametrize("policy", ["split", "bidirectional"])
def test_stochastic_update_is_unbiased_within_its_sampling_error(policy, path):
    """Mean of 1000 draws vs -lr d^T x: chi-square over 30 cells with the exact binomial
    variance, two-sided at 0.1 % (too large a spread fails as well as a bias)."""
    cfg = linear(**{"device.update.policy": policy})
    x, d = case()
    dw = 1.0 / 4000
    lr = 3 * dw / 4.0  # ~3 coincidences asked of the most-driven cell per cycle
    dW, _ = draws_of_dW(cfg, pulse_trains.stochastic_counts, x, d, lr, 1000)
    expected = -lr * d.t() @ x
    stat, k = chi_square(dW, expected, stochastic_var(cfg, x, d, lr, dw))
    assert chi2.ppf(0.001, k) < stat < chi2.ppf(0.999, k), stat


def test_stochastic_bias_is_detected_by_the_same_test():
    """The check has power: a learning rate off by 10 % is rejected."""
    cfg = linear(**{"device.update.policy": "split"})
    x, d = case()
    dw = 1.0 / 4000
    lr = 3 * dw / 4.0
    dW, _ = draws_of_dW(cfg, pulse_trains.stochastic_counts, x, d, lr, 1000)
    stat, k = chi_square(dW, -1.1 * lr * d.t() @ x, stochastic_var(cfg, x, d, lr, dw))
    assert stat > chi2.ppf(0.999, k)


@pytest.mark.parametrize("policy", ["split", "bidirectional"])
def test_counted_update_is_unbiased_within_its_rounding_error(policy):
    cfg = linear(**{"device.update.scheme": "counted", "device.update.policy": policy})
    x, d = case(seed=2)
    dw = 1.0 / 4000
    lr = 2.3 * dw
    dW, _ = draws_of_dW(cfg, update.counted_counts, x, d, lr, 800)
    a = (lr * d.t() @ x / dw).abs()
    if policy == "split":
        f = a - a.floor()
        var = f * (1 - f)
    else:  # two independent roundings of |a|/2
        f = a / 2 - (a / 2).floor()
        var = 2 * f * (1 - f)
    stat, k = chi_square(dW, -lr * d.t() @ x, var * dw * dw + 1e-30)
    assert stat < chi2.ppf(0.999, k), stat


@pytest.mark.parametrize("lr_steps", [4.0, 0.3])
def test_coincidences_and_line_pulses_match_a_loop_over_slots(path, lr_steps):
    """Signed inputs (two polarity phases), bidirectional (two phase sets), a 2 x 2 grid of
    arrays: counts from the matmul vs an explicit loop over slots, rows and columns."""
    cfg = linear(**{"array.rows": 2, "array.cols": 2, "device.update.bl_management": False,
                    "device.update.bl": 5, "device.update.policy": "bidirectional"})
    x, d = case(seed=3, n=3, inp=3, out=3)
    x[1] = x[1].abs()  # one cycle with a single polarity
    d[2, 1] = 0.0  # a column that never fires in cycle 2
    lay, G = mid_state(cfg, 3, 3)
    dw = 1.0 / 4000
    rng = RandomSource(5, pool_size=None, dtype=torch.float64)
    counts, st = pulse_trains.stochastic_counts(lay, rng, x, d, lr_steps * dw,
                                                keep_patterns=True)
    pot, dep = counts.to_dense(lay.cell_shape)
    ref = {k: torch.zeros(3, 3) for k in ("up0", "dn0", "up1", "dn1")}
    rows = cols = 0
    (R, C, b, sgn, phase_set), = st.draws
    for t in range(R.shape[0]):  # test-only loops over slots, rows and columns
        k = int(phase_set[t])
        for i in range(3):
            if R[t, i]:
                rows += 1
                assert torch.sign(x[b[t], i]) == sgn[t]  # a row fires in its own phase
            for j in range(3):
                cols += int(i == 0 and C[t, j] > 0)
                if R[t, i] and C[t, j]:
                    key = ("up" if -x[b[t], i] * d[b[t], j] > 0 else "dn") + str(k)
                    ref[key][i, j] += 1
    assert torch.equal(pot[0], ref["up0"].double()) and torch.equal(pot[1], ref["dn0"].double())
    assert torch.equal(dep[0], ref["dn1"].double()) and torch.equal(dep[1], ref["up1"].double())
    assert st.row_pulses == rows and st.col_pulses == cols
    assert st.coincidences == sum(float(v.sum()) for v in ref.values())
    phases = sum(2 * (int((x[b] > 0).any()) + int((x[b] < 0).any())) for b in range(3))
    assert st.slots == 5 * phases and st.phases == phases
    led = CostLedger()
    cost = TileCost(lay, led, "t")
    cost.update_stochastic(st, 0, 3)
    assert lay.n_row_blocks == 2 and lay.n_col_blocks == 2
    assert led.counts["line_pulse"] == 2 * rows + 2 * cols
    c = cfg.cost
    assert led.energy["line_pulse"] == pytest.approx((2 * rows + 2 * cols) * c.e_line_pulse)
    assert led.energy["pulse"] == pytest.approx(st.coincidences * c.e_pulse)
    assert led.latency_by_op["pulse"] == pytest.approx(5 * phases * c.t_pulse)
    assert "mac" not in led.counts


def test_bl_management_slots_follow_the_formula():
    cfg = linear(**{"device.update.policy": "split"})
    x, d = case(seed=4, n=6)
    x[2] = 0.0  # an empty cycle costs nothing
    lay, _ = mid_state(cfg, 6, 5)
    dw, lr = 1.0 / 4000, 10.0 / 4000  # some cycles need more than bl = 31 slots
    _, st = pulse_trains.stochastic_counts(lay, RandomSource(0, pool_size=None,
                                                             dtype=torch.float64), x, d, lr)
    slots = clipped = 0
    for b in range(6):  # independent: BL_b = min(bl, ceil(nu)), one phase per sign of x
        nu = lr * float(x[b].abs().max() * d[b].abs().max()) / dw
        if nu == 0:
            continue
        slots += min(31, math.ceil(nu)) * (int((x[b] > 0).any()) + int((x[b] < 0).any()))
        clipped += nu > 31
    assert st.slots == slots and st.cycles == 5 and st.clipped == clipped == 2


def test_tile_books_the_stochastic_update_it_applies():
    """The tile's outer_update runs exactly stochastic_counts + apply_counts (same random
    stream) and books no MACs; the ledger matches the stats."""
    cfg = hw.load("rram_generic", **{"device.update.policy": "bidirectional"})
    tile = hw.Tile(torch.randn(20, 30) * 0.1, cfg, seed=0)
    x, d = torch.rand(8, 30), torch.randn(8, 20) * 0.5
    twin = RandomSource(0)
    twin.load_state_dict(tile.rng.state_dict())
    counts, st = pulse_trains.stochastic_counts(tile.layout, twin, x, d, 0.05)
    tile.ledger.reset()
    tile.outer_update(x, d, 0.05)
    n = tile.ledger.counts
    assert n["pulse"] == st.coincidences == float(counts.pot.sum() + counts.dep.sum()) > 0
    assert n["line_pulse"] == st.row_pulses + st.col_pulses  # one array
    assert n["update_slots"] == st.slots and "mac" not in n


def test_counted_books_macs_and_row_wise_write_time():
    cfg = hw.load("rram_generic", **{"device.update.scheme": "counted",
                                     "device.update.policy": "bidirectional",
                                     "array.rows": 16, "array.cols": 16})
    tile = hw.Tile(torch.randn(20, 40) * 0.1, cfg, seed=0)
    x, d = torch.rand(8, 40), torch.randn(8, 20)
    twin = RandomSource(0)
    twin.load_state_dict(tile.rng.state_dict())
    pot, dep = update.counted_counts(tile.layout, twin, x, d, 0.05).to_dense(
        tile.layout.cell_shape)
    tile.ledger.reset()
    tile.outer_update(x, d, 0.05)
    c = cfg.cost
    macs = 8 * 40 * 20
    assert tile.ledger.counts["mac"] == macs
    assert tile.ledger.energy["mac"] == pytest.approx(macs * (c.e_mult + c.e_digital))
    assert tile.ledger.latency_by_op["mac"] == pytest.approx(math.ceil(macs / 256) * c.t_digital)
    # write time: per side and row, largest potentiation + largest depression count; rows
    # of one array in sequence, arrays (and sides) in parallel
    per_row = pot.amax(2) + dep.amax(2)  # (2, in)
    blocks = [per_row[:, r:r + 16].sum(1).max() for r in range(0, 40, 16)]
    assert tile.ledger.latency_by_op["pulse"] == pytest.approx(float(max(blocks)) * c.t_pulse)
    assert tile.ledger.counts["pulse"] == float(pot.sum() + dep.sum())


def test_bidirectional_depression_follows_the_device_model():
    """apply_counts: potentiation then depression through the soft-bounded, asymmetric
    model, against the closed forms written out here."""
    beta_p, beta_d, r = 2.0, 1.5, 0.6
    cfg = linear(**{"device.levels": 33, "device.soft_bounded.beta_pot": beta_p,
                    "device.soft_bounded.beta_dep": beta_d,
                    "device.soft_bounded.dep_ratio": r})
    lay, G = mid_state(cfg, 3, 2)
    s = 1.0 / 32
    pot = torch.tensor([0, 3, 1, 0, 2, 5], dtype=torch.float64).view(1, 3, 2).repeat(2, 1, 1)
    dep = torch.tensor([4, 0, 2, 1, 0, 3], dtype=torch.float64).view(1, 3, 2).repeat(2, 1, 1)
    w = update.apply_counts(lay, G, None, None, RandomSource(0),
                            update.Counts.from_dense(pot, dep))
    g0 = 0.5
    g1 = torch.log(math.exp(beta_p * g0) + beta_p * pot[0] * s) / beta_p
    g2 = 1 - torch.log(torch.exp(beta_d * (1 - g1)) + beta_d * dep[0] * s * r) / beta_d
    Gn = G.clone()
    Gn.view(-1)[w.lin] = w.G_new
    rng_ = cfg.device.g_max - cfg.device.g_min
    assert torch.allclose((Gn[0] - cfg.device.g_min) / rng_, g2, atol=1e-12)
    assert w.cells == 12 and torch.equal(w.dep, dep.view(-1)[w.lin])


@pytest.mark.parametrize("scheme", ["stochastic", "counted"])
@pytest.mark.parametrize("over", [{}, {"periphery.weight_bits": 24, "periphery.bits_per_cell": 4,
                                       "array.rows": 64, "array.cols": 40}],
                         ids=["ideal", "sliced"])
def test_ideal_and_bit_sliced_tiles_stay_exact_under_either_scheme(scheme, over):
    g = torch.Generator().manual_seed(0)
    W = torch.randn(40, 150, generator=g, dtype=torch.float64)
    x = torch.randn(9, 150, generator=g, dtype=torch.float64)
    d = torch.randn(9, 40, generator=g, dtype=torch.float64)
    tile = hw.Tile(W, hw.load("ideal", **{**over, "device.update.scheme": scheme}))
    tile.outer_update(x, d, 0.01)
    W1 = W - 0.01 * d.T @ x
    assert float((tile.read_weight() - W1).norm() / W1.norm()) < 1e-5


@pytest.mark.parametrize("key,bad", [("device.update.scheme", "parallel"),
                                     ("device.update.policy", "both"),
                                     ("periphery.transposed_adc", "twice")])
def test_a_wrong_choice_is_one_line_naming_the_key(key, bad):
    with pytest.raises(ConfigError) as err:
        hw.load("rram_generic", **{key: bad})
    msg = str(err.value)
    assert msg.startswith(key + ":") and "\n" not in msg
