"""ADC range of every read (snnx.hw.readout.full_scale) and the digital cost of input
normalisation, against independent re-computations."""

from __future__ import annotations

import math

import pytest
import torch

import snnx.hw as hw
from snnx.hw.readout import full_scale

QUIET = {"noise.prog_sigma": 0.0, "noise.read.constant.sigma": 0.0, "device.stuck_at": 0.0,
         "device.soft_bounded.d2d_sigma": 0.0, "device.soft_bounded.c2c_sigma": 0.0,
         "device.levels": None, "periphery.dac_bits": None, "periphery.adc_bits": 4,
         "periphery.input_scaling": "fixed", "periphery.adc_clip": 0.05}


def cfg(**over):
    return hw.load("rram_generic", **{**QUIET, **over})


def adc(p, fs, bits=4):
    lsb = 2 * fs / 2 ** bits
    return torch.clamp(torch.round(p / lsb), -2 ** (bits - 1), 2 ** (bits - 1) - 1) * lsb


def test_full_scale_rule():
    p = cfg().periphery
    assert full_scale(p, 256, 256) == pytest.approx(0.05 * 256)  # a full line: unchanged
    assert full_scale(p, 64, 256) == pytest.approx(0.05 * math.sqrt(64 * 256))
    wide = cfg(**{"periphery.adc_clip": 0.25}).periphery  # 0.25 * sqrt(256) = 4 > 1 cell
    assert full_scale(wide, 1, 256) == 1.0  # never beyond the worst case of the used cells
    ref = cfg(**{"periphery.adc_ref_cells": 100}).periphery
    assert full_scale(ref, 6, 6) == pytest.approx(0.05 * math.sqrt(600))
    old = cfg(**{"periphery.adc_range": "array"}).periphery
    assert full_scale(old, 64, 256) == pytest.approx(0.05 * 256)


@pytest.mark.parametrize("mode", ["line", "array"])
def test_forward_blocks_of_different_length_get_their_own_range(mode):
    """48 inputs on 32-row arrays: blocks of 32 and 16 used rows, each column partial sum
    converted with its own full scale, then added."""
    c = cfg(**{"array.rows": 32, "periphery.adc_range": mode})
    W = torch.randn(5, 48, dtype=torch.float64) * 0.3
    tile = hw.Tile(W, c, seed=0)
    x = torch.rand(300, 48, dtype=torch.float64) * 2 - 1
    Wh = tile.read_weight() / tile.w_max  # full-cell units
    ref = 0
    for r0, n in ((0, 32), (32, 16)):
        fs = 0.05 * (math.sqrt(n * 32) if mode == "line" else 32)
        ref = ref + adc(x[:, r0:r0 + n] @ Wh[:, r0:r0 + n].T, fs)
    assert torch.allclose(tile.mvm(x), ref * tile.w_max, atol=1e-9)


@pytest.mark.parametrize("mode", ["line", "array"])
def test_transposed_read_range_follows_the_used_columns(mode):
    """20 outputs on 32-column arrays: a sensed row carries 20 used cells."""
    c = cfg(**{"array.cols": 32, "array.rows": 64, "periphery.adc_range": mode})
    W = torch.randn(20, 40, dtype=torch.float64) * 0.3
    tile = hw.Tile(W, c, seed=0)
    d = torch.rand(200, 20, dtype=torch.float64) * 2 - 1
    Wh = tile.read_weight() / tile.w_max
    fs = 0.05 * (math.sqrt(20 * 32) if mode == "line" else 32)
    assert torch.allclose(tile.mvm_t(d), adc(d @ Wh, fs) * tile.w_max, atol=1e-9)


def test_patched_caches_equal_a_rebuild_with_unequal_blocks():
    c = cfg(**{"array.rows": 32, "device.levels": 64})
    tile = hw.Tile(torch.randn(6, 48, dtype=torch.float64) * 0.3, c, seed=1)
    x = torch.rand(50, 48, dtype=torch.float64) * 2 - 1
    d = torch.rand(50, 6, dtype=torch.float64) * 2 - 1
    tile.mvm(x), tile.mvm_t(d)  # build both caches
    tile.outer_update(torch.rand(8, 48, dtype=torch.float64),
                      torch.randn(8, 6, dtype=torch.float64), 0.2)
    y, g = tile.mvm(x), tile.mvm_t(d)  # patched caches
    tile._invalidate()
    assert torch.allclose(y, tile.mvm(x), atol=1e-9)
    assert torch.allclose(g, tile.mvm_t(d), atol=1e-9)


@pytest.mark.parametrize("scaling", ["abs_max", "fixed"])
def test_input_normalisation_is_booked(scaling):
    """abs_max: per vector n compares (max|x|), n multiplies (scale in), one multiply per
    output (scale back); fixed: nothing."""
    c = hw.load("rram_generic", **{"periphery.input_scaling": scaling})
    tile = hw.Tile(torch.randn(30, 70) * 0.1, c, seed=0)
    tile.ledger.reset()
    tile.mvm(torch.rand(9, 70))
    tile.mvm_t(torch.rand(4, 30))
    n = tile.ledger.counts
    if scaling == "fixed":
        assert "norm" not in n
        return
    cmp, mul = 9 * 70 + 4 * 30, 9 * (70 + 30) + 4 * (30 + 70)
    assert n["norm"] == cmp + mul
    e = tile.ledger.energy["norm"]
    assert e == pytest.approx(cmp * c.cost.e_digital + mul * c.cost.e_mult)
