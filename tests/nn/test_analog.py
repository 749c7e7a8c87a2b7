"""AnalogLinear: exact on ideal hardware, autograd through mvm_t, conversions, one ledger."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import snnx.hw as hw
from snnx.nn import MLP, SNN, AnalogLinear


@pytest.fixture
def ideal():
    return hw.load("ideal")


@pytest.fixture
def lin64():
    torch.manual_seed(0)
    return nn.Linear(7, 5, dtype=torch.float64)


def test_forward_matches_linear_on_ideal(ideal, lin64):
    a = AnalogLinear.from_linear(lin64, ideal)
    x = torch.randn(4, 7, dtype=torch.float64)
    torch.testing.assert_close(a(x), lin64(x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(a.analog_forward(x), lin64(x), rtol=1e-12, atol=1e-12)
    x3 = torch.randn(2, 3, 7, dtype=torch.float64)  # leading dims like nn.Linear
    torch.testing.assert_close(a(x3), lin64(x3), rtol=1e-12, atol=1e-12)


def test_autograd_matches_linear_on_ideal(ideal, lin64):
    a = AnalogLinear.from_linear(lin64, ideal)
    x1 = torch.randn(6, 7, dtype=torch.float64, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_(True)
    w = torch.randn(6, 5, dtype=torch.float64)
    (lin64(x1) * w).sum().backward()
    (a(x2) * w).sum().backward()
    torch.testing.assert_close(x2.grad, x1.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(a.weight.grad, lin64.weight.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(a.bias.grad, lin64.bias.grad, rtol=1e-12, atol=1e-12)


def test_backward_reads_the_tile_transposed(ideal, lin64):
    a = AnalogLinear.from_linear(lin64, ideal, name="fc")
    assert "fc/adc_t" not in a.ledger.area
    x = torch.randn(3, 7, dtype=torch.float64, requires_grad=True)
    a(x).sum().backward()
    assert a.ledger.counts["adc_t"] > 0
    assert "fc/adc_t" not in a.ledger.area  # transposed_adc: shared (the forward converters)
    # the input gradient comes from the conductances, not from the software copy
    with torch.no_grad():
        a.weight.data.zero_()  # .data: no version bump, so no re-programming
    x.grad = None
    a(x).sum().backward()
    torch.testing.assert_close(x.grad, lin64.weight.sum(0).expand(3, 7).detach(),
                               rtol=1e-12, atol=1e-12)


def test_optimizer_step_reprograms_the_tile(ideal, lin64):
    a = AnalogLinear.from_linear(lin64, ideal)
    opt = torch.optim.SGD(a.parameters(), lr=0.1)
    x = torch.randn(4, 7, dtype=torch.float64)
    a(x).pow(2).sum().backward()
    opt.step()  # the tile is re-programmed lazily, before the next forward
    torch.testing.assert_close(a(x), x @ a.weight.T + a.bias, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(a.tile.read_weight(), a.weight.detach(), rtol=1e-12, atol=1e-12)


def test_hardware_aware_training_step_on_noisy_hw(lin64):
    a = AnalogLinear.from_linear(lin64.float(), hw.load("rram_generic"), seed=1)
    x = torch.randn(16, 7)
    loss = a(x).pow(2).mean()
    loss.backward()
    assert a.weight.grad is not None and torch.isfinite(a.weight.grad).all()
    assert a.ledger.counts["pulse"] > 0  # programmed with write-verify


def test_to_linear_and_sync_weight(ideal, lin64):
    a = AnalogLinear.from_linear(lin64, ideal)
    a.tile.outer_update(torch.ones(1, 7, dtype=torch.float64),
                        torch.ones(1, 5, dtype=torch.float64), 0.01)
    back = a.to_linear()
    torch.testing.assert_close(back.weight, lin64.weight - 0.01, rtol=1e-12, atol=1e-12)
    assert not torch.allclose(a.weight, back.weight)  # software copy is stale ...
    a.sync_weight()  # ... until read back
    torch.testing.assert_close(a.weight, back.weight, rtol=1e-12, atol=1e-12)
    n_prog = a.ledger.counts["cells_written"]
    a(torch.randn(2, 7, dtype=torch.float64))
    assert a.ledger.counts["cells_written"] == n_prog  # sync does not trigger a re-program


def test_shape_errors(ideal):
    with pytest.raises(ValueError, match=r"weight: expected shape \(3, 4\)"):
        AnalogLinear(4, 3, ideal, weight=torch.zeros(4, 3))


@pytest.mark.parametrize("model", [MLP([6, 5, 4, 3]), SNN(channels=2, window=8, hidden=(5, 4),
                                                          classes=3, steps=4)])
def test_layers_share_one_ledger(ideal, model):
    ana = model.to_analog(ideal)
    ledgers = {id(l.ledger) for l in ana.layers}
    assert len(ledgers) == 1 and ana.ledger is ana.layers[0].ledger
    names = {k.split("/")[0] for k in ana.ledger.area}
    assert len(names) == len(ana.layers)
    back = ana.to_digital()
    for l, b in zip(model.layers, back.layers):
        torch.testing.assert_close(b.weight, l.weight, rtol=1e-6, atol=1e-6)
