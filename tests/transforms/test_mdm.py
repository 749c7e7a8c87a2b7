"""MDM (snnx.transforms.mdm): ideal outputs unchanged, NF lowered with the right directions,
optimal wire cost, physical cells untouched, parameter errors."""

from __future__ import annotations

import pytest
import torch

import snnx.hw as hw
from snnx.errors import ConfigError, ShapeError
from snnx.nn import MLP
from snnx.transforms import TRANSFORMS, apply_transforms
from snnx.transforms.mdm import array_nf, input_activity, mdm, plan, wire_cost

SLICED = {"periphery.weight_bits": 8, "periphery.bits_per_cell": 1,
          "periphery.input_bit_serial": True, "periphery.dac_bits": 8, "array.w_headroom": 1.0}


def small_net(**over):
    cfg = hw.load("ideal", **{**SLICED, "array.rows": 16, "array.cols": 24, **over})
    net = MLP([40, 12, 5], seed=1)
    return net, net.to_analog(cfg, seed=3)


def calib(n=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 40, generator=g)
    x[:, ::3] = 0.0                                    # some rows never driven
    return x


def gaussian_tile(n=64, seed=0):
    """One n x n array per side: W (n/8, n) Gaussian, 8-bit slices, bit-serial inputs."""
    cfg = hw.load("ideal", **{**SLICED, "array.rows": n, "array.cols": n})
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(n // 8, n, generator=g, dtype=torch.float64)
    mu = torch.rand(n, generator=g, dtype=torch.float64) * 2 - 1
    x = (mu + torch.randn(96, n, generator=g, dtype=torch.float64)).clamp(min=0)
    return hw.Tile(W, cfg, seed=seed), x[:48], x[48:]


# ------------------------------------------------------------------------- outputs
@pytest.mark.parametrize("params", [{}, {"weight_by_significance": True},
                                    {"rows": False}, {"columns": False}, {"reverse": True}])
def test_ideal_outputs_unchanged_multi_array(params):
    net, ana = small_net()                              # 40 rows -> 3 arrays, 96 cols -> 4
    x = calib(seed=1)
    out = mdm(ana, params, calib=calib())
    t = out.layers[0].tile
    assert t.n_row_blocks == 3 and t.n_col_blocks == 4
    assert (t.row_perm is not None) == params.get("rows", True)
    assert (t.col_perm is not None) == params.get("columns", True)
    torch.testing.assert_close(out(x), ana(x), rtol=1e-5, atol=1e-6)
    assert ana.layers[0].tile.row_perm is None          # the input model is untouched


def test_ideal_continuous_inputs_and_cells_unchanged_without_calib():
    cfg = hw.load("ideal", **{"array.rows": 16, "array.cols": 8})
    net = MLP([40, 12, 5], seed=1)
    ana = net.to_analog(cfg)
    out = mdm(ana, None)
    x = torch.randn(6, 40)
    torch.testing.assert_close(out(x), net(x), rtol=1e-5, atol=1e-5)
    assert out.layers[0].tile.row_perm is not None


def test_faults_and_variation_stay_with_the_physical_cells():
    _, ana = small_net(**{"device.stuck_at": 0.05, "device.soft_bounded.d2d_sigma": 0.1})
    out = mdm(ana, {}, calib=calib())
    for a, b in zip(ana.layers, out.layers):
        assert torch.equal(a.tile.faults[0], b.tile.faults[0])
        assert torch.equal(a.tile.faults[1], b.tile.faults[1])
        assert torch.equal(a.tile.gain, b.tile.gain)
        assert b.tile.row_perm is not None


# ------------------------------------------------------------------------- placement
def test_mdm_minimises_the_wire_cost_over_placements():
    _, ana = small_net()
    tile = ana.layers[0].tile
    p = input_activity(tile, calib())
    W = ana.layers[0].weight.detach()
    g = torch.Generator().manual_seed(0)
    random_costs = []
    for _ in range(10):
        tile.set_mapping(torch.randperm(40, generator=g), torch.randperm(96, generator=g), W=W)
        random_costs.append(wire_cost(tile, p))
    tile.set_mapping(*plan(tile, p), W=W)
    best = wire_cost(tile, p)
    tile.set_mapping(*plan(tile, p, reverse=True), W=W)
    worst = wire_cost(tile, p)
    assert best < min(random_costs) and worst > max(random_costs)


def test_idle_rows_go_far_from_the_sense_amps_and_dense_columns_near_the_drivers():
    _, ana = small_net()
    tile = ana.layers[0].tile
    p = input_activity(tile, calib())
    assert float(p[::3].max()) == 0.0 and float(p[1::3].min()) > 0.2
    rp, cp = plan(tile, p)
    # 40 rows in arrays of 16, 16, 8: the 14 idle rows take the 14 rows farthest from the
    # sense amplifiers (distance 16 .. 10), dealt round-robin over the two full arrays; the
    # 8-row array has no row that far
    idle_pos = sorted(int(i) for i in torch.nonzero(rp % 3 == 0).flatten())
    assert idle_pos == list(range(0, 7)) + list(range(16, 23))
    assert cp is not None


def test_dense_low_order_columns_go_nearest_the_drivers_for_gaussian_weights():
    tile, cal, _ = gaussian_tile()
    tile.set_mapping(*plan(tile, None), W=tile.read_weight())
    G = tile.conductances                               # physical order
    on = ((G - 2e-6) / 98e-6).sum(0).sum(0)             # on-cells per physical column
    assert bool((on[1:] <= on[:-1] + 1e-6).all())       # densest first
    k = 7 - (tile.col_perm % 8)                         # bit significance per position
    assert float(k[:8].float().mean()) < 1.5 and float(k[-8:].float().mean()) > 5.5


# ------------------------------------------------------------------------- NF
@pytest.mark.parametrize("r", [1.0, 2.5])
def test_nf_lower_with_mdm_and_higher_reversed(r):
    tile, cal, x = gaussian_tile()
    W = tile.read_weight()
    base = float(array_nf(tile, x, r_row=r, r_col=r).mean())
    p = input_activity(tile, cal)
    tile.set_mapping(*plan(tile, p), W=W)
    nf_mdm = float(array_nf(tile, x, r_row=r, r_col=r).mean())
    tile.set_mapping(*plan(tile, None), W=W)
    nf_mdm_nocal = float(array_nf(tile, x, r_row=r, r_col=r).mean())
    tile.set_mapping(*plan(tile, p, reverse=True), W=W)
    nf_rev = float(array_nf(tile, x, r_row=r, r_col=r).mean())
    print(f"\n64x64, r={r} ohm: NF baseline {base:.2%}, MDM {nf_mdm:.2%} "
          f"({1 - nf_mdm / base:.1%} lower; without calib {1 - nf_mdm_nocal / base:.1%}), "
          f"reversed {nf_rev:.2%}")
    assert nf_mdm < nf_mdm_nocal < base < nf_rev
    assert 1 - nf_mdm / base > 0.05


def test_array_nf_is_per_physical_array_and_checks_r_and_inputs():
    _, ana = small_net()
    tile = ana.layers[0].tile
    nf = array_nf(tile, calib(), r_row=1.0, r_col=1.0)
    assert nf.shape == (2, 3, 4) and bool((nf > 0).all())
    with pytest.raises(ConfigError, match=r"r_row: must be > 0 ohm"):
        array_nf(tile, calib())                         # the preset has no wire resistance
    bad = calib()
    bad[0, 1] = float("nan")
    with pytest.raises(ShapeError, match=r"x: contains NaN or inf"):
        input_activity(tile, bad)


# ------------------------------------------------------------------------- parameters
@pytest.mark.parametrize("params,msg", [
    ({"row": True}, r"mdm.row: unknown key; did you mean 'rows'\?"),
    ({"weight_by_sig": True}, r"mdm.weight_by_sig: unknown key; did you mean "
                              r"'weight_by_significance'"),
    ({"bogus": 1}, r"mdm.bogus: unknown key; valid keys: columns, reverse, rows, "),
    ({"reverse": "yes"}, r"mdm.reverse: expected true or false, got 'yes'"),
])
def test_bad_params_name_the_parameter(params, msg):
    _, ana = small_net()
    with pytest.raises(ConfigError, match=msg):
        mdm(ana, params)


def test_model_without_tiles_and_bad_calib_are_config_errors():
    net, ana = small_net()
    with pytest.raises(ConfigError, match=r"mdm: the model has no AnalogLinear layers"):
        mdm(net, {})
    with pytest.raises(ConfigError, match=r"mdm: calib could not be run through the model"):
        mdm(ana, {}, calib=torch.rand(4, 7))


def test_registered_and_applied_through_the_registry():
    from types import SimpleNamespace

    assert TRANSFORMS["mdm"] is mdm
    _, ana = small_net()
    out = apply_transforms(ana, [SimpleNamespace(name="mdm", params={"columns": False})],
                           calib=calib())
    assert out.layers[1].tile.row_perm is not None and out.layers[1].tile.col_perm is None


def test_mapped_copy_is_not_reprogrammed_at_its_first_forward():
    _, ana = small_net()
    with torch.no_grad():                # weights edited in place: tiles out of sync
        for lyr in ana.layers:
            lyr.weight.mul_(0.5)
    out = mdm(ana, {}, calib=calib())    # programs ``weight`` in the new placement
    calls = []
    for lyr in out.layers:
        lyr.tile.program = lambda W, _f=lyr.tile.program: (calls.append(1), _f(W))[1]
    out(calib())
    assert calls == []
