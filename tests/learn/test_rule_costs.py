"""What each rule books on the shared ledger: mechanisms (counts, formulas, who registers
which periphery), never which rule wins."""

from __future__ import annotations

import math

import pytest
import torch

import snnx.hw as hw
from snnx.hw.readout import full_scale
from snnx.learn import BP, DFA, LogSGD
from snnx.nn import SNN


def har_like(**over):
    """A small HAR-shaped spiking net (9 x 64 windows, 32-16 hidden, 6 classes, T = 8)."""
    return SNN(channels=9, window=64, hidden=(32, 16), classes=6, steps=8, gain=3.0,
               seed=0).to_analog(hw.load("rram_generic", **over), seed=0)


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(2, 64, 9, generator=g), torch.tensor([1, 4])


def _step(rule, batch, steps=1, **over):
    net = har_like(**over)
    rule.bind(net)
    snap = net.ledger.snapshot()
    for _ in range(steps):
        rule.step(net, *batch)
    return net, net.ledger.since(snap)


def test_dfa_feedback_reads_are_one_parallel_step(batch):
    net = har_like()
    rule = DFA(0.01)
    rule.bind(net)
    rec = net.record(batch[0])
    e = torch.randn(2, 6)
    lat = []
    for tile in rule.tiles:  # each feedback read alone
        s = net.ledger.snapshot()
        tile.mvm(e)
        lat.append(net.ledger.since(s)["latency_s"])
    s = net.ledger.snapshot()
    rule.deltas(net, rec, e)
    assert net.ledger.since(s)["latency_s"] == pytest.approx(max(lat))


@pytest.mark.parametrize("mode", ["separate", "shared"])
def test_transposed_periphery_follows_the_option(batch, mode):
    """separate: BP registers row-side ADCs and column drivers; shared: no extra area, and
    the forward converters take ceil(rows / ADCs) conversions per transposed cycle."""
    net, d = _step(BP(0.01), batch, **{"periphery.transposed_adc": mode, "array.cols": 128})
    comp = net.ledger.area_by_component()
    c = net.hw
    if mode == "separate":
        assert comp["adc_t"] > 0 and comp["dac_t"] > 0
    else:
        assert "adc_t" not in comp and "dac_t" not in comp
    n_adc = math.ceil(c.array.cols / c.periphery.adc_share)
    per_cycle = (c.periphery.adc_share if mode == "separate"
                 else math.ceil(c.array.rows / n_adc))
    assert per_cycle == (8 if mode == "separate" else 16)  # 256 rows, 16 forward ADCs
    reads = net.layers[1:]  # one transposed read per layer above the first
    cycles = d["counts"]["adc_t"] / sum(l.in_features for l in reads)  # T*B vectors each
    assert d["latency_by_op"]["adc_t"] == pytest.approx(len(reads) * cycles * per_cycle
                                                        * c.cost.t_adc)
    assert not any(k.startswith("dfa_") for k in net.ledger.area)


def test_dfa_registers_its_feedback_tiles_or_books_digital_macs(batch):
    net, _ = _step(DFA(0.01), batch)
    area = net.ledger.area
    assert "adc_t" not in net.ledger.area_by_component()
    fb = {k.split("/")[0] for k in area if k.startswith("dfa_B")}
    assert fb == {"dfa_B0", "dfa_B1"}
    assert all(area[f"{n}/cells"] > 0 and area[f"{n}/adc"] > 0 for n in fb)
    rule = DFA(0.01, feedback_compute="digital")
    net, d = _step(rule, batch)
    assert not any(k.startswith("dfa_B") for k in net.ledger.area)
    rows = batch[0].shape[0]  # error="window": one feedback product per sample
    assert d["counts"]["mac"] == rows * (32 + 16) * 6
    c = net.hw.cost
    assert d["energy"]["mac"] == pytest.approx(d["counts"]["mac"] * (c.e_mult + c.e_digital))


def test_fitted_feedback_tiles_get_the_models_adc_rule():
    """Feedback arrays of C rows get full scale adc_clip * sqrt(C * rows_of_the_model), the
    rule every read follows; an explicit feedback_adc_clip gives the old fixed fraction."""
    net = har_like()
    rule = DFA(0.01)
    rule.bind(net)
    t = rule.tiles[0]
    p, rows = net.hw.periphery, net.hw.array.rows
    assert t.hw.array.rows == 6
    fs = full_scale(t.hw.periphery, 6, t.hw.array.rows)
    assert fs == pytest.approx(p.adc_clip * math.sqrt(6 * rows))
    old = DFA(0.01, feedback_adc_clip=0.5)
    old.bind(har_like())
    assert full_scale(old.tiles[0].hw.periphery, 6, 6) == pytest.approx(3.0)


@pytest.mark.parametrize("scheme", ["stochastic", "counted"])
def test_update_books_macs_only_when_counted(batch, scheme):
    """counted: N * in * out digital MACs per layer (N = T * B rows); stochastic: none, but
    line-driver pulses and slots."""
    net, d = _step(DFA(0.01), batch, **{"device.update.scheme": scheme})
    N = 8 * batch[0].shape[0]
    fwd = sum(l.in_features * l.out_features for l in net.layers)
    if scheme == "counted":
        assert d["counts"]["mac"] == N * fwd
        assert "line_pulse" not in d["counts"]
    else:
        assert "mac" not in d["counts"]
        assert d["counts"]["line_pulse"] > 0 and d["counts"]["update_slots"] > 0


def test_logsgd_books_its_writes_and_capacitors(batch):
    net, d = _step(LogSGD(0.01), batch)
    assert sum(d["energy"].values()) > 0 and d["latency_s"] > 0
    assert net.ledger.counts["pulse"] > 0
    assert net.ledger.area_by_component()["caps"] > 0
