"""Time on a tile: drift models (hw.drift) read at the tile's clock (Tile.set_time), cells
aging since their own last write (snnx.hw.cellstate)."""

import pytest
import torch

import snnx.hw as hw
from snnx.errors import ConfigError
from snnx.hw.drift.power_law import DriftState, conductance_at

MONTH = 30 * 86400.0


def _ideal_drift(**kw):
    return hw.load("ideal", **{"drift.power_law": kw})


def _W(seed=0, shape=(12, 20)):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed),
                       dtype=torch.float64)


def _kernel_view(tile, t):
    """Independent: the power-law kernel on the written conductances and the tile's draws."""
    c, d = tile.cells, tile.hw.device
    st = DriftState(c.draws[0]["nu"], c.draws[0]["rho"], tile.hw.drift["power_law"].t0,
                    d.g_min, d.g_max)
    age = (t - c.t_write).clamp(min=st.t0)
    return conductance_at(c.G0, st, age)


@pytest.mark.parametrize("t", [1.0, 3600.0, 86400.0, MONTH])
def test_reads_at_t_match_the_kernel_and_are_frozen(t):
    W = _W()
    tile = hw.Tile(W, _ideal_drift(), seed=1)
    assert torch.allclose(tile.read_weight(), W, atol=1e-12)  # t = 0 <= t0: as written
    tile.set_time(t)
    assert tile.time == t
    want = tile.layout.weights(_kernel_view(tile, t))
    assert torch.allclose(tile.read_weight(), want, atol=1e-12)
    x = torch.randn(5, 20, dtype=torch.float64)
    y1, y2 = tile.mvm(x), tile.mvm(x)
    assert torch.equal(y1, y2), "drift is frozen, not fresh noise"
    assert torch.allclose(y1, x @ want.T, atol=1e-9)
    if t > 1.0:
        assert not torch.allclose(want, W, atol=1e-3)


def test_a_write_restarts_the_drift_of_the_written_cells_only():
    W = _W(1)
    tile = hw.Tile(W, _ideal_drift(), seed=2)
    tile.set_time(86400.0)
    W_day = tile.read_weight()
    x = torch.zeros(1, 20, dtype=torch.float64)
    x[0, 3] = 1.0
    d = torch.zeros(1, 12, dtype=torch.float64)
    d[0, 5] = 1.0
    tile.outer_update(x, d, 0.1)  # touches input row 3 x output 5 only
    c = tile.cells
    fresh = c.t_write == 86400.0
    assert int(fresh.sum()) >= 1 and bool((c.t_write[~fresh] == 0).all())
    want = W_day.clone()
    want[5, 3] -= 0.1  # the exact update acted on the drifted weight
    assert torch.allclose(tile.read_weight(), want, atol=1e-9)
    tile.set_time(2 * 86400.0)
    later = tile.read_weight()
    # the rewritten weight is one day old, its neighbours two days
    assert torch.allclose(later, tile.layout.weights(_kernel_view(tile, 2 * 86400.0)),
                          atol=1e-12)


def test_programming_at_t_resets_every_cell():
    tile = hw.Tile(_W(), _ideal_drift(), seed=0)
    tile.set_time(MONTH)
    W2 = _W(5)
    tile.program(W2)
    assert torch.allclose(tile.read_weight(), W2, atol=1e-12)
    assert bool((tile.cells.t_write == MONTH).all())


def test_state_round_trip_keeps_clock_draws_and_write_times():
    cfg = hw.load("rram_generic", **{"drift.power_law": {}})
    a = hw.Tile(_W(2).float(), cfg, seed=4)
    a.set_time(3600.0)
    b = hw.Tile(_W(3).float(), cfg, seed=9)
    b.load_state_dict(a.state_dict())
    assert b.time == 3600.0 and torch.equal(a.read_weight(), b.read_weight())
    a.set_time(MONTH)
    b.set_time(MONTH)
    assert torch.equal(a.read_weight(), b.read_weight())


def test_without_drift_time_changes_nothing():
    cfg = hw.load("rram_generic")
    a = hw.Tile(_W().float(), cfg, seed=0)
    assert not a.cells.active
    W0 = a.read_weight()
    a.set_time(MONTH)
    assert torch.equal(a.read_weight(), W0)


@pytest.mark.parametrize("t,msg", [(-1.0, "must be a finite number"),
                                   (float("nan"), "must be a finite number"),
                                   ("soon", "expected a number")])
def test_bad_times_are_one_line_errors(t, msg):
    tile = hw.Tile(_W(), _ideal_drift(), seed=0)
    with pytest.raises(ConfigError, match=rf"^t: .*{msg}"):
        tile.set_time(t)


def test_reading_before_a_write_is_an_error():
    tile = hw.Tile(_W(), _ideal_drift(), seed=0)
    tile.set_time(100.0)
    tile.program(_W(1))
    with pytest.raises(ConfigError, match=r"^t: 50 s is before the last write"):
        tile.set_time(50.0)


def test_impossible_drift_parameters_name_the_key():
    with pytest.raises(ConfigError, match=r"^drift\.power_law\.nu_min: must be <= nu_max"):
        hw.load("rram_generic", **{"drift.power_law": {"nu_min": 0.3, "nu_max": 0.2}})
    with pytest.raises(ConfigError, match=r"^drift\.power_law\.t0: 0\.0 is out of range"):
        hw.load("rram_generic", **{"drift.power_law.t0": 0.0})
    with pytest.raises(ConfigError, match=r"^drift\.powerlaw: unknown drift model"):
        hw.load("rram_generic", **{"drift.powerlaw": {}})
