"""Cost of the rules on the shared ledger: DFA below BP; who registers which periphery."""

from __future__ import annotations

import pytest
import torch

import snnx.hw as hw
from snnx.learn import BP, DFA, LogSGD
from snnx.nn import SNN


def har_like():
    """A small HAR-shaped spiking net (9 x 64 windows, 32-16 hidden, 6 classes, T = 8)."""
    return SNN(channels=9, window=64, hidden=(32, 16), classes=6, steps=8, gain=3.0,
               seed=0).to_analog(hw.load("rram_generic"), seed=0)


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(2, 64, 9, generator=g), torch.tensor([1, 4])


def _step_cost(rule, batch, steps=3):
    net = har_like()
    rule.bind(net)
    snap = net.ledger.snapshot()
    for _ in range(steps):
        rule.step(net, *batch)
    d = net.ledger.since(snap)
    return sum(d["energy"].values()), d["latency_s"], net


def test_dfa_step_costs_less_energy_and_latency_than_bp(batch):
    e_bp, t_bp, _ = _step_cost(BP(0.01), batch)
    e_dfa, t_dfa, _ = _step_cost(DFA(0.01), batch)
    assert e_dfa < e_bp and t_dfa < t_bp, (e_dfa / e_bp, t_dfa / t_bp)


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


def test_bp_registers_transposed_periphery_dfa_its_feedback_tiles(batch):
    _, _, net_bp = _step_cost(BP(0.01), batch, steps=1)
    comp = net_bp.ledger.area_by_component()
    assert comp.get("adc_t", 0) > 0 and comp.get("dac_t", 0) > 0
    assert not any(k.startswith("dfa_") for k in net_bp.ledger.area)
    _, _, net_dfa = _step_cost(DFA(0.01), batch, steps=1)
    area = net_dfa.ledger.area
    assert "adc_t" not in net_dfa.ledger.area_by_component()
    fb = {k.split("/")[0] for k in area if k.startswith("dfa_B")}
    assert fb == {"dfa_B0", "dfa_B1"}
    assert all(area[f"{n}/cells"] > 0 and area[f"{n}/adc"] > 0 for n in fb)
    # fitted feedback arrays: C = 6 rows, n_l columns
    assert net_dfa.ledger.area_m2 < net_bp.ledger.area_m2


def test_logsgd_books_its_writes_and_capacitors(batch):
    e, t, net = _step_cost(LogSGD(0.01), batch, steps=1)
    assert e > 0 and t > 0 and net.ledger.counts["pulse"] > 0
    assert net.ledger.area_by_component()["caps"] > 0
