"""ReSNA read noise as a read-noise model (noise.read.rtn): a tile's output moments against
the kernel's per-cell formulas (snnx.hw.rtn), and its exact per-cell sampler."""

import pytest
import torch

import snnx.hw as hw
from snnx.errors import ConfigError
from snnx.hw.noise import read_noise
from snnx.hw.rtn import RTNParams, cell_moments

# b_rtn at its largest makes the telegraph term (and its mean shift) large enough to measure
LOUD = {"bandwidth": 1e11, "b_rtn": 0.3, "a_rtn": 1.662e-7}


def _cfg(**kw):
    return hw.load("ideal", **{"device.g_min": 0.0, "device.g_max": 333e-6,
                               "noise.read": {"rtn": {**LOUD, **kw}}})


def _kernel(cfg):
    p = cfg.noise.read["rtn"]
    return RTNParams(g_max=cfg.device.g_max, v_read=cfg.periphery.v_read,
                     bandwidth=p.bandwidth, temperature=p.temperature, a_rtn=p.a_rtn,
                     b_rtn=p.b_rtn, p_rtn=p.p_rtn)


def test_output_mean_shift_and_variance_match_the_per_cell_formulas():
    cfg = _cfg()
    W = torch.randn(6, 30, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    tile = hw.Tile(W, cfg, seed=1, pool_size=None)
    x = torch.rand(1, 30, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    n = 20000
    y = tile.mvm(x.expand(n, 30))
    # independent: moments of every cell from the kernel, mapped to weight units
    G = tile.conductances  # (2, in, out): G+ and G-
    mean, var = cell_moments(G, _kernel(cfg))
    k = tile.w_max / (cfg.device.g_max - cfg.device.g_min)
    shift = x @ ((mean[0] - mean[1]) * k)
    sd = ((x * x) @ ((var[0] + var[1]) * k * k)).sqrt()
    assert float(shift.abs().min()) > 5 * float(sd.max()) / n ** 0.5  # the shift is visible
    assert torch.allclose(y.mean(0), (x @ W.T + shift)[0], atol=5 * float(sd.max()) / n ** 0.5)
    assert torch.allclose(y.std(0), sd[0], rtol=0.05)


def test_exact_sampler_is_two_valued_telegraph_plus_gaussian():
    cfg = _cfg(bandwidth=0.0)  # no thermal/shot part: what remains is the telegraph
    rn = read_noise(cfg)
    G = torch.full((20000,), 200e-6, dtype=torch.float64)
    out = rn.sample_cells(G, cfg.device.g_max - cfg.device.g_min, torch.Generator())
    vals = torch.unique(out)
    assert vals.numel() == 2 and float(vals[0]) == 200e-6
    mean, var = cell_moments(G[:1], _kernel(cfg))
    up = (out > 200e-6).double().mean()
    assert float(up) == pytest.approx(0.5, abs=0.02)
    assert float(out.mean() - 200e-6) == pytest.approx(float(mean), rel=0.05)


def test_rtn_parameters_out_of_range_name_the_key():
    with pytest.raises(ConfigError, match=r"^noise\.read\.rtn\.b_rtn: 0\.9 is out of range"):
        hw.load("rram_generic", **{"noise.read.rtn.b_rtn": 0.9})
    with pytest.raises(ConfigError, match=r"^noise\.read\.rtn\.temperature: 0\.0 is out"):
        hw.load("rram_generic", **{"noise.read.rtn.temperature": 0.0})


def test_telegraph_rate_other_than_one_half_sets_shift_and_variance():
    """p_rtn = 0.2 (not the symmetric default, where p and 1 - p cannot be told apart): the
    exact sampler is up on a share p of reads, and a tile's output has mean shift
    x @ (p dG) and variance x^2 @ (p (1 - p) dG^2), with dG from the formula written here."""
    p, g = 0.2, 200e-6
    cfg = _cfg(bandwidth=0.0, p_rtn=p)  # telegraph only
    n = 40000
    out = read_noise(cfg).sample_cells(torch.full((n,), g, dtype=torch.float64),
                                       cfg.device.g_max - cfg.device.g_min, torch.Generator())
    tau = LOUD["b_rtn"] * g + LOUD["a_rtn"]
    amp = g * tau / (g - tau)  # independent: ReSNA's dG_rtn = G tau / (G - tau)
    up = out > g + 0.5 * amp
    assert torch.allclose(out[up], torch.full_like(out[up], g + amp), rtol=1e-9, atol=0)
    assert abs(float(up.double().mean()) - p) < 4 * (p * (1 - p) / n) ** 0.5
    # through a tile: every cell's telegraph, summed over the inputs
    W = torch.randn(4, 20, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    tile = hw.Tile(W, cfg, seed=3, pool_size=None)
    x = torch.rand(1, 20, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    G = tile.conductances
    t = LOUD["b_rtn"] * G + LOUD["a_rtn"]
    a = torch.where(G > t, G * t / (G - t), torch.zeros_like(G))
    k = tile.w_max / (cfg.device.g_max - cfg.device.g_min)
    shift = x @ ((a[0] - a[1]) * p * k)
    sd = ((x * x) @ ((a[0] ** 2 + a[1] ** 2) * p * (1 - p) * k * k)).sqrt()
    y = tile.mvm(x.expand(n, 20))
    assert torch.allclose(y.mean(0), (x @ W.T + shift)[0], atol=5 * float(sd.max()) / n ** 0.5)
    assert torch.allclose(y.std(0), sd[0], rtol=0.05)
