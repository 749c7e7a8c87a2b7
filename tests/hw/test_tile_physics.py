"""Non-ideal physics of the Tile, checked against independent computations."""

import math

import pytest
import torch

import snnx.hw as hw
from snnx.hw import device as dev
from snnx.hw import periphery as per

QUIET = {"noise.prog_sigma": 0.0, "noise.read.constant.sigma": 0.0, "device.stuck_at": 0.0,
         "device.soft_bounded.d2d_sigma": 0.0, "device.soft_bounded.c2c_sigma": 0.0,
         "periphery.adc_bits": None, "periphery.dac_bits": None}


def cfg(**over):
    base = dict(QUIET)
    base.update(over)
    return hw.load("rram_generic", **base)


@pytest.mark.parametrize("pool", [None, 1 << 16], ids=["exact_rng", "pooled_rng"])
def test_constant_read_noise_std_matches_per_cell_monte_carlo(pool):
    """Output noise of the tile vs explicitly sampled per-cell conductance noise."""
    sigma = 0.02
    W = torch.randn(12, 50, dtype=torch.float64) * 0.3
    c = cfg(**{"noise.read.constant.sigma": sigma, "device.levels": None})
    tile = hw.Tile(W, c, seed=1, pool_size=pool)
    x = torch.rand(1, 50, dtype=torch.float64) * 2 - 1
    reads = torch.stack([tile.mvm(x)[0] for _ in range(3000)])
    std_tile = reads.std(0)
    # independent: sample every cell of both arrays, sum the currents, convert to weights
    G = tile.conductances  # (2, in, out) S
    r = c.device.g_max - c.device.g_min
    g_s = r / tile.w_max
    n = torch.randn(2000, 2, 50, 12, dtype=torch.float64) * sigma * r
    Gn = G.unsqueeze(0) + n
    y_mc = torch.einsum("i,sio->so", x[0], Gn[:, 0] - Gn[:, 1]) / g_s
    std_mc = y_mc.std(0)
    theory = math.sqrt(2) * sigma * tile.w_max * x.norm()  # same for every output
    assert torch.allclose(std_mc, torch.full_like(std_mc, float(theory)), rtol=0.1)
    assert torch.allclose(std_tile, std_mc, rtol=0.1)


def test_state_dependent_read_noise_matches_theory():
    W = torch.randn(8, 40, dtype=torch.float64) * 0.3
    c = cfg(**{"noise.read.proportional.sigma": 0.05, "device.levels": None})
    tile = hw.Tile(W, c, seed=2, pool_size=None)
    x = torch.rand(1, 40, dtype=torch.float64)
    reads = torch.stack([tile.mvm(x)[0] for _ in range(4000)])
    G = tile.conductances
    g_s = (c.device.g_max - c.device.g_min) / tile.w_max
    var = (x[0] ** 2) @ ((0.05 * G[0]) ** 2 + (0.05 * G[1]) ** 2) / g_s ** 2
    assert torch.allclose(reads.std(0), var.sqrt(), rtol=0.1)


def test_zero_noise_limit_is_deterministic():
    W = torch.randn(8, 40)
    tile = hw.Tile(W, cfg(), seed=0)
    x = torch.rand(4, 40)
    assert torch.equal(tile.mvm(x), tile.mvm(x))


@pytest.mark.parametrize("bits", [3, 4, 6])
def test_adc_gives_at_most_2_to_b_levels(bits):
    W = torch.randn(6, 64) * 0.2
    c = hw.load("rram_generic", **{"periphery.adc_bits": bits, "periphery.input_scaling": "fixed",
                                   "periphery.adc_clip": 0.004})
    tile = hw.Tile(W, c, seed=0)
    y = tile.mvm(torch.rand(4000, 64) * 2 - 1)
    for j in range(6):
        n = torch.unique(y[:, j]).numel()
        assert n <= 2 ** bits
        assert n > 2 ** (bits - 1)  # the range is really used


def test_adc_function_clips_and_counts_codes():
    p = torch.linspace(-10, 10, 10001)
    q = per.adc_(p.clone(), 4, 2.0)
    assert torch.unique(q).numel() == 16
    assert float(q.min()) == -2.0 and float(q.max()) == pytest.approx(2.0 - 0.25)


def test_dac_levels():
    x = torch.linspace(-1, 1, 5001)
    assert torch.unique(per.dac(x, 4)).numel() == 15  # 2^4 - 1 symmetric levels
    assert per.dac(x, None) is x


def test_stuck_at_fraction_and_values():
    c = hw.load("rram_generic", **{"device.stuck_at": 0.01, "device.sa1_share": 0.3})
    tile = hw.Tile(torch.randn(256, 256) * 0.1, c, seed=4)
    sa0, sa1 = tile.faults
    n = sa0.numel()
    frac = float((sa0 | sa1).sum()) / n
    assert abs(frac - 0.01) < 4 * math.sqrt(0.01 * 0.99 / n)
    assert abs(float(sa1.sum()) / float((sa0 | sa1).sum()) - 0.3) < 0.05
    G = tile.conductances
    assert torch.all(G[sa0] == c.device.g_min) and torch.all(G[sa1] == c.device.g_max)
    tile.outer_update(torch.rand(32, 256), torch.randn(32, 256), 0.5)
    G = tile.conductances
    assert torch.all(G[sa0] == c.device.g_min) and torch.all(G[sa1] == c.device.g_max)


def test_one_shot_programming_error_as_configured():
    sigma = 0.02
    c = cfg(**{"noise.prog_sigma": sigma, "device.levels": None,
               "programming.scheme": "one_shot"})
    W = torch.rand(200, 200, dtype=torch.float64) * 0.5 + 0.25  # mid-range: no clipping
    tile = hw.Tile(W, c, seed=5)
    r = c.device.g_max - c.device.g_min
    target = c.device.g_min + r * W.t() / tile.w_max
    err = (tile.conductances[0] - target) / r
    assert abs(float(err.std()) - sigma) < 0.05 * sigma
    assert abs(float(err.mean())) < 0.002


def test_program_verify_beats_one_shot():
    over = {"noise.prog_sigma": 0.03, "noise.read.constant.sigma": 0.002, "device.levels": 64}
    W = torch.rand(128, 128) * 0.5 + 0.25
    errs = {}
    for scheme in ("one_shot", "verify"):
        c = cfg(**over, **{"programming.scheme": scheme})
        tile = hw.Tile(W, c, seed=6)
        Wq = hw.Tile(W, hw.load(c, **{"noise.prog_sigma": 0.0, "noise.read.constant.sigma": 0.0}),
                     seed=6).read_weight()
        errs[scheme] = float((tile.read_weight() - Wq).abs().mean())
        if scheme == "verify":
            assert tile.ledger.counts["verify_read"] > 0
            tol = c.programming_params.tolerance / (c.device.levels - 1) * tile.w_max
            within = (tile.read_weight() - Wq).abs() <= 2 * tol + 3 * 0.002 * tile.w_max
            assert float(within.double().mean()) > 0.9
    assert errs["verify"] < 0.5 * errs["one_shot"]


def test_pulse_closed_form_matches_pulse_by_pulse_loop():
    """The vectorised closed form against an explicit one-pulse-at-a-time recursion."""
    c = hw.load("rram_generic", **{"device.levels": 201, "device.soft_bounded.beta_pot": 2.5,
                                   "device.soft_bounded.c2c_sigma": 0.0})
    s = dev.step_fraction(c)
    g0 = torch.tensor([0.0, 0.2, 0.6, 0.9], dtype=torch.float64)
    n = torch.tensor([10.0, 25.0, 5.0, 40.0], dtype=torch.float64)
    closed = dev.apply_pulses(g0, n, c, depress=None, gain=None, noise=None)
    loop = g0.clone()
    for k in range(40):  # reference recursion, test-only loop
        active = n > k
        loop = torch.where(active, (loop + s * torch.exp(-2.5 * loop)).clamp(0, 1), loop)
    # the closed form is the continuum limit: its error is O(n beta s^2)
    assert torch.allclose(closed, loop, atol=float(n.max()) * 2.5 * s * s)
    assert not torch.allclose(closed, g0 + n * s, atol=float(n.max()) * 2.5 * s * s)
    assert torch.all(closed[1:] - g0[1:] < n[1:] * s)  # soft bound: smaller than linear


def test_depression_asymmetry():
    c = hw.load("rram_generic", **{"device.soft_bounded.dep_ratio": 0.5, "device.soft_bounded.c2c_sigma": 0.0})
    g = torch.full((2,), 0.5, dtype=torch.float64)
    n = torch.full((2,), 3.0, dtype=torch.float64)
    out = dev.apply_pulses(g, n, c, depress=torch.tensor([False, True]), gain=None, noise=None)
    up, down = float(out[0] - 0.5), float(0.5 - out[1])
    assert up == pytest.approx(2 * down)


def test_stochastic_rounding_is_unbiased():
    """Many updates far smaller than one pulse step still move the weight on average
    (counted scheme: stochastic rounding of digitally computed pulse counts)."""
    c = cfg(**{"device.update.scheme": "counted", "device.update.policy": "split"})
    W = torch.zeros(1, 1, dtype=torch.float64) + 0.5
    W = torch.full((64, 64), 0.0, dtype=torch.float64)
    W[0, 0] = 1.0  # sets w_max
    tile = hw.Tile(W, c, seed=7, pool_size=None)
    step_w = tile.w_max * dev.step_fraction(c)
    x = torch.ones(1, 64, dtype=torch.float64)
    d = -torch.ones(1, 64, dtype=torch.float64)
    lr = 0.05 * step_w  # each update asks for 5 % of a pulse on every cell
    for _ in range(40):
        tile.outer_update(x, d, lr)
    moved = tile.read_weight()[1:, 1:]
    assert float(moved.mean()) == pytest.approx(40 * lr, rel=0.15)


def test_update_direction_and_refresh():
    c = cfg(**{"device.update.refresh_at": 0.5, "device.update.policy": "split"})
    W = torch.full((4, 4), 0.1)
    tile = hw.Tile(W, c, seed=8)
    x = torch.ones(1, 4)
    for k in range(16):  # push up, then down: both sides of each pair climb
        tile.outer_update(x, (1.0 if k % 2 else -1.0) * torch.ones(1, 4), 2.0)
    G = tile.conductances
    assert float(torch.minimum(G[0], G[1]).max()) <= c.device.g_min + 0.5 * 98e-6 + 1e-6 * 14
    assert tile.ledger.counts["cells_written"] > 32  # refresh re-programmed cells


def test_each_array_has_its_own_adc():
    """A matrix split over two arrays: each partial sum is converted on its own (independent
    re-computation from the held weights), which differs from converting the total."""
    bits, rows, clip = 4, 32, 0.05
    c = cfg(**{"periphery.adc_bits": bits, "periphery.input_scaling": "fixed",
               "array.rows": rows, "periphery.adc_clip": clip, "device.levels": None})
    W = torch.randn(5, 64, dtype=torch.float64) * 0.3
    tile = hw.Tile(W, c, seed=0)
    assert tile.n_row_blocks == 2
    x = torch.rand(200, 64, dtype=torch.float64) * 2 - 1
    Wh = tile.read_weight() / tile.w_max  # full-cell units
    fs = clip * rows
    lsb = 2 * fs / 2 ** bits

    def adc(p):
        return torch.clamp(torch.round(p / lsb), -2 ** (bits - 1), 2 ** (bits - 1) - 1) * lsb

    per_array = sum(adc(x[:, r * rows:(r + 1) * rows] @ Wh[:, r * rows:(r + 1) * rows].T)
                    for r in range(2)) * tile.w_max
    one_adc = adc(x @ Wh.T) * tile.w_max
    y = tile.mvm(x)
    assert torch.allclose(y, per_array, atol=1e-9)
    assert not torch.allclose(y, one_adc, atol=1e-9)
