"""The Synaptogen-like device as a tile's device model (device.model: synaptogen): what the
tile reads against the configured statistics, and 3-bit weights on binary bit planes."""

import numpy as np
import pytest
import torch

import snnx.hw as hw
from snnx.errors import ConfigError
from snnx.nn.qat import differential_planes, quantize_weight

K = 40  # programmings of the same weights


def _cfg(**kw):
    return hw.load("synaptogen", **{"noise.read": None, "periphery.adc_bits": None,
                                    "periphery.dac_bits": None, **kw})


def test_preset_uses_the_device_model_with_binary_bit_planes():
    cfg = hw.load("synaptogen")
    assert cfg.device.model == "synaptogen" and cfg.device.levels == 2
    assert cfg.periphery.weight_bits == 2 and cfg.periphery.bits_per_cell == 1
    assert cfg.noise.prog_sigma == 0.0  # the variation comes from the device state


def test_three_bit_weights_sit_on_differential_binary_planes():
    cfg = _cfg()
    W = torch.randn(7, 11, generator=torch.Generator().manual_seed(0))
    q, s = quantize_weight(W, 3)  # levels -3..3
    tile = hw.Tile(q.float() * s, cfg, seed=0)
    on = tile.layout.to_logical(tile.conductances) > 0.5 * (cfg.device.g_min
                                                             + cfg.device.g_max)
    pos, neg = differential_planes(q, 3)  # (planes LSB first, out, in)
    for side, planes in ((0, pos), (1, neg)):
        bits = on[side].view(11, 7, 2)  # (in, out, slice MSB first)
        assert torch.equal(bits[..., 0], planes[1].T.bool())
        assert torch.equal(bits[..., 1], planes[0].T.bool())


def test_cycle_to_cycle_statistics_of_programmed_cells_match_the_configuration():
    """Program the same weights K times: every LRS cell is RESET and SET again each time
    (a new VAR cycle). Its read conductance minus its device mean (in log10 R) must have the
    configured c2c std and the VAR's lag-1 autocorrelation; HRS cells that were never on
    must keep their conductance (they never switch, so they never draw)."""
    cfg = _cfg()
    p = cfg.device_params
    W = torch.randn(64, 64, generator=torch.Generator().manual_seed(1))
    tile = hw.Tile(W, cfg, seed=3)
    on = tile.conductances > 0.5 * (cfg.device.g_min + cfg.device.g_max)
    never = ~on
    mu_lrs = tile.cells.device_state["mu"][0].view(on.shape)
    dev, hrs = [], []
    for _ in range(K):
        G = tile.cells.device_view(tile.conductances)
        dev.append((torch.log10(1.0 / G) - mu_lrs)[on].double())
        hrs.append(G[never].clone())
        tile.program(W)
    d = torch.stack(dev)  # (K, n_on)
    n = d.numel()
    sd = float(d.pow(2).mean().sqrt())  # the true device mean is known: no bias
    assert sd == pytest.approx(p.c2c_sigma[0], rel=4 / np.sqrt(n / 10))
    lag1 = float((d[1:] * d[:-1]).mean() / d.pow(2).mean())
    assert lag1 == pytest.approx(float(p.stationary()[2][0]), abs=0.03)
    assert all(torch.equal(h, hrs[0]) for h in hrs)


def test_hrs_spread_does_not_cancel_in_the_pair():
    """A zero weight is HRS on both sides: G+ - G- is the difference of two devices' HRS,
    whose spread follows from the configuration (log-normal, mixture means)."""
    cfg = _cfg()
    tile = hw.Tile(torch.zeros(64, 64).index_fill_(1, torch.tensor([0]), 1.0), cfg, seed=0)
    G = tile.cells.device_view(tile.conductances)
    zero = tile.layout.to_logical(tile.conductances)[0, 1:] < cfg.device.g_max / 2
    diff = (G[0] - G[1])[1:][zero]
    assert float(diff.std()) > 0.1 * cfg.device.g_min  # tens of % of an HRS
    assert abs(float(diff.mean())) < 4 * float(diff.std()) / diff.numel() ** 0.5


@pytest.mark.parametrize("key,value,msg", [
    ("var_a", [[[1.2, 0, 0, 0], [0, 0.4, 0, 0], [0, 0, 0.3, 0], [0, 0, 0, 0.3]]],
     "VAR is not stable"),
    ("noise_corr", [[1, 2, 0, 0], [2, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]],
     "must be symmetric positive definite"),
    ("c2c_sigma", [0.08, 0.18, 0.05], "expected shape 4"),
    ("gmm_stds", [[0.03, 0.04, 0.04, -0.04]] * 3, "values must be finite and > 0"),
])
def test_impossible_device_parameters_name_the_key(key, value, msg):
    with pytest.raises(ConfigError) as e:
        hw.load("synaptogen", **{f"device.synaptogen.{key}": value})
    assert str(e.value).startswith(f"device.synaptogen.{key}: {msg}")
    assert "\n" not in str(e.value)
