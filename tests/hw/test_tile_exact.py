"""Contract 1: with an ideal hardware model the tile is exact math.

mvm, mvm_t and outer_update must equal x W^T, d W and W - lr d^T x within 1e-5 relative, also
when the matrix is split over several physical arrays and with bit slicing on.
"""

import pytest
import torch

import snnx.hw as hw

RTOL = 1e-5

LAYOUTS = {
    "one_array": {},
    "grid_3x4": {"array.rows": 64, "array.cols": 12},  # 150 inputs -> 3 row blocks, 4 col blocks
    "sliced_24b": {"periphery.weight_bits": 24, "periphery.bits_per_cell": 4,
                   "array.rows": 64, "array.cols": 40},
    "sliced_1bit_cells": {"periphery.weight_bits": 22, "periphery.bits_per_cell": 1,
                          "array.rows": 100, "array.cols": 128},
}


def rel(a, b):
    return float((a - b).norm() / b.norm())


@pytest.fixture(params=sorted(LAYOUTS))
def layout(request):
    return request.param


def make(layout, out=40, inp=150, seed=0):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(out, inp, generator=g, dtype=torch.float64)
    tile = hw.Tile(W, hw.load("ideal", **LAYOUTS[layout]), seed=seed)
    x = torch.randn(9, inp, generator=g, dtype=torch.float64)
    d = torch.randn(9, out, generator=g, dtype=torch.float64)
    return tile, W, x, d


def test_grid_is_really_split(layout):
    tile, *_ = make(layout)
    expect = {"one_array": 2, "grid_3x4": 2 * 3 * 4}
    if layout in expect:
        assert tile.n_arrays == expect[layout]
    if layout.startswith("sliced"):
        assert tile.n_slices > 1 and tile.n_arrays > 2


def test_mvm_exact(layout):
    tile, W, x, _ = make(layout)
    assert rel(tile.mvm(x), x @ W.T) < RTOL


def test_mvm_t_exact(layout):
    tile, W, _, d = make(layout)
    assert rel(tile.mvm_t(d), d @ W) < RTOL


def test_outer_update_exact(layout):
    tile, W, x, d = make(layout)
    lr = 0.01
    tile.outer_update(x, d, lr)
    W1 = W - lr * d.T @ x
    assert rel(tile.read_weight(), W1) < RTOL
    assert rel(tile.mvm(x), x @ W1.T) < RTOL  # the read caches follow the update
    assert rel(tile.mvm_t(d), d @ W1) < RTOL


def test_repeated_updates_stay_exact():
    tile, W, x, d = make("grid_3x4")
    for k in range(5):
        tile.outer_update(x * (k + 1) / 5, d, 0.003)
        W = W - 0.003 * d.T @ (x * (k + 1) / 5)
    assert rel(tile.mvm(x), x @ W.T) < RTOL


def test_one_dimensional_input_round_trips():
    tile, W, x, d = make("one_array")
    y = tile.mvm(x[0])
    assert y.shape == (W.shape[0],)
    assert rel(y, W @ x[0]) < RTOL


def test_mapping_permutation_preserves_outputs():
    tile, W, x, d = make("grid_3x4")
    g = torch.Generator().manual_seed(5)
    tile.set_mapping(row_perm=torch.randperm(150, generator=g),
                     col_perm=torch.randperm(tile.n_cols, generator=g))
    assert rel(tile.mvm(x), x @ W.T) < RTOL
    assert rel(tile.mvm_t(d), d @ W) < RTOL
    tile.outer_update(x, d, 0.01)
    assert rel(tile.read_weight(), W - 0.01 * d.T @ x) < RTOL


def test_bit_serial_equals_dac_quantised_product():
    W = torch.randn(20, 70, dtype=torch.float64)
    cfg = hw.load("ideal", **{"periphery.input_bit_serial": True, "periphery.dac_bits": 6,
                              "array.rows": 32})
    tile = hw.Tile(W, cfg)
    x = torch.randn(8, 70, dtype=torch.float64)
    s = x.abs().amax(1, keepdim=True)
    xq = torch.round(x / s * 31) / 31 * s  # 6-bit symmetric DAC: 31 magnitude levels
    assert rel(tile.mvm(x), xq @ W.T) < RTOL
    n_planes = 2 * 5  # signed inputs: positive and negative planes of 5 magnitude bits
    assert tile.ledger.counts["adc"] == 8 * n_planes * 3 * 20


def test_float32_tile_is_accurate():
    W = torch.randn(64, 300)
    tile = hw.Tile(W, hw.load("ideal", **{"array.rows": 128}))
    x = torch.randn(16, 300)
    assert rel(tile.mvm(x), x @ W.T) < 1e-5


def test_long_alternating_training_stays_exact():
    """Both sides of a pair only grow under 'split' updates; refresh must keep ideal exact."""
    W = torch.full((1, 1), 0.5, dtype=torch.float64)
    tile = hw.Tile(W, hw.load("ideal"))
    x = torch.ones(1, 1, dtype=torch.float64)
    for k in range(200):
        tile.outer_update(x, torch.full((1, 1), 0.2 if k % 2 else -0.2, dtype=torch.float64), 1.0)
    assert float(tile.read_weight()) == pytest.approx(0.5, abs=1e-9)
    G = tile.conductances
    assert float(torch.minimum(G[0], G[1]).max()) < 0.6 * 100e-6  # pairs were refreshed
