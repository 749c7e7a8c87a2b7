"""CostLedger: counts follow the configuration; energy, latency and area follow the counts."""

import math

import pytest
import torch

import snnx.hw as hw
from snnx.hw.ledger import CostLedger


def tile_for(out=40, inp=150, **over):
    c = hw.load("rram_generic", **{"array.rows": 64, "array.cols": 16, **over})
    return hw.Tile(torch.randn(out, inp) * 0.1, c, seed=0), c


def test_forward_counts_follow_configuration():
    tile, c = tile_for()
    assert (tile.n_row_blocks, tile.n_col_blocks) == (3, 3)
    tile.ledger.reset()
    B = 7
    tile.mvm(torch.rand(B, 150))
    n = tile.ledger.counts
    assert n["adc"] == B * 40 * 3 * 1  # batch x active columns x row blocks x input cycles
    assert n["dac"] == B * 150 * 3  # every input row driven in each column block
    assert n["cell_read"] == B * 2 * 150 * 40
    assert "adc_t" not in n


def test_bit_serial_multiplies_cycles():
    tile, c = tile_for(**{"periphery.input_bit_serial": True, "periphery.dac_bits": 5})
    tile.ledger.reset()
    tile.mvm(torch.rand(3, 150))  # non-negative inputs: 4 magnitude planes, no sign planes
    assert tile.ledger.counts["adc"] == 3 * 40 * 3 * 4


def test_transposed_reads_are_counted_apart():
    tile, c = tile_for(**{"periphery.transposed_adc": "separate"})
    area_before = tile.ledger.area_m2
    tile.ledger.reset()
    tile.mvm_t(torch.randn(5, 40))
    n = tile.ledger.counts
    assert n["adc_t"] == 5 * 150 * 3  # rows sensed in each column block
    assert n["dac_t"] == 5 * 40 * 3
    assert "adc" not in n and "dac" not in n
    assert tile.ledger.area_m2 > area_before  # row-side ADCs and column drivers exist now
    assert "adc_t" in tile.ledger.area_by_component()


def test_energy_follows_counts():
    tile, c = tile_for()
    tile.ledger.reset()
    tile.mvm(torch.rand(4, 150))
    e = tile.ledger.energy
    assert e["adc"] == pytest.approx(tile.ledger.counts["adc"] * c.cost.adc_fom * 2 ** 8)
    assert e["dac"] == pytest.approx(tile.ledger.counts["dac"] * c.cost.e_dac_bit * 8)
    # cell energy: independent sum of V^2 G t over all cells for one input vector
    x = torch.rand(1, 150)
    tile.ledger.reset()
    tile.mvm(x)
    xs = torch.round(x / x.abs().max() * 127) / 127
    V = c.periphery.v_read * xs[0]
    G = tile.conductances
    ref = float(((V ** 2).unsqueeze(1) * (G[0] + G[1])).sum()) * c.cost.t_read
    assert tile.ledger.energy["cell_read"] == pytest.approx(ref, rel=1e-4)


def test_adc_share_of_mvm_energy_in_review_range():
    """METHODS.md 0.6 / the review: ADCs take 50-80 % of MVM energy with the default preset."""
    tile = hw.Tile(torch.randn(256, 256) * 0.05, hw.load("rram_generic"), seed=1)
    tile.ledger.reset()
    tile.mvm(torch.rand(64, 256))
    e = tile.ledger.energy
    share = e["adc"] / tile.ledger.energy_j
    assert 0.5 <= share <= 0.8


def test_area_counts_cells_and_periphery():
    tile, c = tile_for()
    a = tile.ledger.area_by_component()
    grid = 9
    assert a["cells"] == pytest.approx(2 * grid * 64 * 16 * 4 * (40e-9) ** 2)
    assert a["adc"] == pytest.approx(grid * math.ceil(16 / 8) * c.cost.adc_area_8b)
    assert c.cost.adc_area_8b == pytest.approx(0.0096e-6 / 8)  # ISAAC: 8 converters together


def test_update_counts_pulses_and_latency():
    tile, c = tile_for()
    tile.ledger.reset()
    tile.outer_update(torch.rand(8, 150), torch.randn(8, 40), 0.5)
    n = tile.ledger.counts
    assert n["pulse"] > 0
    assert tile.ledger.energy["pulse"] == pytest.approx(n["pulse"] * c.cost.e_pulse)
    # row-parallel writing: at least one pulse time, at most all pulses in sequence
    lat = tile.ledger.latency_by_op["pulse"]
    assert c.cost.t_pulse <= lat <= n["pulse"] * c.cost.t_pulse


def test_parallel_and_sequential_latency():
    led = CostLedger()
    led.add("a", 1, latency_s=1.0)
    with led.parallel():
        with led.branch():
            led.add("b", 1, latency_s=2.0)
            led.add("b", 1, latency_s=2.0)
        with led.branch():
            led.add("c", 1, latency_s=3.0)
    led.add("d", 1, latency_s=0.5)
    assert led.latency_s == pytest.approx(1.0 + 4.0 + 0.5)


def test_shared_ledger_sums_tiles_and_snapshots():
    led = CostLedger()
    c = hw.load("rram_generic")
    t1 = hw.Tile(torch.randn(10, 20), c, ledger=led, name="fc")
    t2 = hw.Tile(torch.randn(10, 20), c, ledger=led, name="fc")  # same name -> own area key
    assert len([k for k in led.area if k.endswith("/cells")]) == 2
    snap = led.snapshot()
    t1.mvm(torch.rand(2, 20))
    t2.mvm(torch.rand(2, 20))
    diff = led.since(snap)
    assert diff["counts"]["adc"] == 2 * 2 * 10
    state = led.state_dict()
    other = CostLedger()
    other.load_state_dict(state)
    assert other.summary() == led.summary()
