"""BP on ideal tiles equals torch autograd: MLP (backprop) and SNN (BPTT, reset detached)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import snnx.hw as hw
from snnx.learn import BP
from snnx.nn import MLP, SNN

LR = 0.1


def _weights(model):
    return [l.tile.read_weight().clone() for l in model.layers]


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_bp_mlp_update_equals_lr_times_autograd(activation):
    net = MLP([5, 7, 6, 3], activation=activation, dtype=torch.float64, seed=3)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 5, dtype=torch.float64, generator=g)
    y = torch.tensor([0, 1, 2, 1])
    F.cross_entropy(net(x), y).backward()
    ana = net.to_analog(hw.load("ideal"))
    W0, b0 = _weights(ana), [l.bias.detach().clone() for l in ana.layers]
    out = BP(LR).step(ana, x, y)
    assert out["loss"] == pytest.approx(F.cross_entropy(net(x), y).item(), rel=1e-12)
    for lyr, w0, b, ref in zip(ana.layers, W0, b0, net.layers):
        torch.testing.assert_close(lyr.tile.read_weight() - w0, -LR * ref.weight.grad,
                                   rtol=1e-10, atol=1e-13)
        torch.testing.assert_close(lyr.bias.detach() - b, -LR * ref.bias.grad,
                                   rtol=1e-10, atol=1e-13)


def test_bp_mse_loss_matches_autograd():
    net = MLP([3, 4, 2], activation="tanh", dtype=torch.float64)
    x = torch.randn(6, 3, dtype=torch.float64)
    t = torch.randn(6, 2, dtype=torch.float64)
    (0.5 * ((net(x) - t) ** 2).sum(1).mean()).backward()
    ana = net.to_analog(hw.load("ideal"))
    W0 = _weights(ana)
    BP(LR, loss="mse").step(ana, x, t)
    for lyr, w0, ref in zip(ana.layers, W0, net.layers):
        torch.testing.assert_close(lyr.tile.read_weight() - w0, -LR * ref.weight.grad,
                                   rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("neuron", ["leaky", "synaptic"])
@pytest.mark.parametrize("readout", ["membrane", "count"])
def test_bptt_through_tiles_equals_autograd_on_snntorch(neuron, readout):
    net = SNN(channels=3, window=32, hidden=(16, 12), classes=4, steps=8, neuron=neuron,
              readout=readout, gain=3.0, bias=True, dtype=torch.float64, seed=1)
    with torch.no_grad():
        for lyr in net.layers:
            lyr.bias.uniform_(-0.1, 0.1)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(5, 32, 3, dtype=torch.float64, generator=g)
    y = torch.tensor([0, 1, 2, 3, 1])
    F.cross_entropy(net(x), y).backward()
    ana = net.to_analog(hw.load("ideal"))
    W0, b0 = _weights(ana), [l.bias.detach().clone() for l in ana.layers]
    BP(LR).step(ana, x, y)
    for lyr, w0, b, ref in zip(ana.layers, W0, b0, net.layers):
        assert float(ref.weight.grad.abs().max()) > 1e-3  # gradients do reach every layer
        torch.testing.assert_close(lyr.tile.read_weight() - w0, -LR * ref.weight.grad,
                                   rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(lyr.bias.detach() - b, -LR * ref.bias.grad,
                                   rtol=1e-9, atol=1e-12)


def test_bp_never_reads_the_software_weights():
    net = MLP([4, 6, 3], dtype=torch.float64)
    x, y = torch.randn(3, 4, dtype=torch.float64), torch.tensor([0, 1, 2])
    a, b = net.to_analog(hw.load("ideal")), net.to_analog(hw.load("ideal"))
    for lyr in b.layers:
        lyr.weight.data.normal_()  # garbage in the digital copy (no version bump: no re-program)
    BP(LR).step(a, x, y)
    BP(LR).step(b, x, y)
    for la, lb in zip(a.layers, b.layers):
        torch.testing.assert_close(la.tile.read_weight(), lb.tile.read_weight())


def test_bp_rejects_software_models():
    with pytest.raises(TypeError, match="layer 0 is a Linear, not an AnalogLinear"):
        BP(LR).step(MLP([2, 2]), torch.zeros(1, 2), [0])
