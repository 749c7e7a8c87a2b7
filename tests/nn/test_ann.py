"""MLP: torch forward, analog twin with the same weights, conversions back."""

from __future__ import annotations

import pytest
import torch

import snnx.hw as hw
from snnx.nn import MLP


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "identity"])
def test_analog_twin_equals_software_on_ideal(activation):
    net = MLP([6, 9, 4], activation=activation, dtype=torch.float64, seed=2)
    ana = net.to_analog(hw.load("ideal"), seed=5)
    x = torch.randn(7, 6, dtype=torch.float64)
    torch.testing.assert_close(ana(x), net(x), rtol=1e-12, atol=1e-12)
    rec = ana.record(x)
    torch.testing.assert_close(rec.logits, net(x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(rec.inputs[0], x)
    assert [l.tile.seed for l in ana.layers] == [5, 6]
    assert all(isinstance(l, torch.nn.Linear) for l in net.layers)  # source untouched


def test_seeded_init_and_errors():
    a, b = MLP([3, 4, 2], seed=1), MLP([3, 4, 2], seed=1)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    with pytest.raises(ValueError, match="activation: 'gelu' is not one of relu, tanh"):
        MLP([3, 2], activation="gelu")
    with pytest.raises(ValueError, match="sizes: need at least two positive widths"):
        MLP([3])
