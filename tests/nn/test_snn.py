"""SNN: snntorch neurons, encodings, readouts; the tile recursion equals the torch forward."""

from __future__ import annotations

import pytest
import torch
from snntorch import surrogate as snn_surrogate

import snnx.hw as hw
from snnx.nn import SNN, encode, encoded_features, surrogate


def small(**kw):
    base = dict(channels=3, window=32, hidden=(16, 12), classes=4, steps=8, gain=3.0,
                dtype=torch.float64)
    base.update(kw)
    return SNN(**base)


@pytest.mark.parametrize("neuron", ["leaky", "synaptic"])
@pytest.mark.parametrize("readout", ["membrane", "count"])
@pytest.mark.parametrize("encoding", ["direct", "delta"])
def test_record_on_ideal_tiles_equals_torch_forward(neuron, readout, encoding):
    net = small(neuron=neuron, readout=readout, encoding=encoding)
    x = torch.randn(5, 32, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    ana = net.to_analog(hw.load("ideal"))
    rec = ana.record(x)
    torch.testing.assert_close(rec.logits, net(x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ana(x), net(x), rtol=1e-12, atol=1e-12)
    assert rec.steps == 8 and rec.batch == 5
    assert [tuple(t.shape) for t in rec.inputs] == [(40, net.in_features), (40, 16), (40, 12)]
    assert [tuple(t.shape) for t in rec.pre] == [(40, 16), (40, 12), (40, 4)]
    spikes = rec.inputs[1]
    assert 0.0 < float(spikes.mean()) < 1.0 and set(spikes.unique().tolist()) <= {0.0, 1.0}


def test_encodings():
    x = torch.zeros(2, 8, 1)
    x[0, 3, 0] = 1.0  # a step up at sample 3 and down at sample 5
    x[0, 5, 0] = 0.0
    x[0, 4, 0] = 1.0
    d = encode(x, "delta", 4, delta_threshold=0.5)
    assert d.shape == (4, 2, encoded_features("delta", 8, 1, 4)) == (4, 2, 4)
    on, off = d[:, 0, 0::2].reshape(-1), d[:, 0, 1::2].reshape(-1)  # per sample: on, off
    assert on.nonzero().flatten().tolist() == [3] and off.nonzero().flatten().tolist() == [5]
    direct = encode(x, "direct", 4)
    torch.testing.assert_close(direct.transpose(0, 1).reshape(2, 8, 1), x)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    r = torch.full((64, 16, 2), 0.5)  # p = 0.75
    r1, r2 = encode(r, "rate", 4, gen=g1), encode(r, "rate", 4, gen=g2)
    assert torch.equal(r1, r2) and abs(float(r1.mean()) - 0.75) < 0.03
    with pytest.raises(ValueError, match="not divisible by T=3"):
        encode(x, "direct", 3)
    with pytest.raises(ValueError, match="encoding: 'spiky' is not one of direct, rate, delta"):
        encode(x, "spiky", 4)


@pytest.mark.parametrize("kind,factory,slope", [("atan", snn_surrogate.atan, 2.0),
                                                 ("fast_sigmoid", snn_surrogate.fast_sigmoid, 25.0)])
def test_surrogate_matches_snntorch(kind, factory, slope):
    u = torch.linspace(-2, 2, 101, requires_grad=True)
    u2 = u.detach().clone().requires_grad_(True)
    factory(slope)(u).sum().backward()
    s = surrogate(kind, slope)
    out = s(u2)
    out.sum().backward()
    torch.testing.assert_close(u2.grad, u.grad)
    torch.testing.assert_close(s.deriv(u.detach()), u.grad)
    assert s(torch.tensor([0.5], dtype=torch.float64)).dtype == torch.float64


def test_offline_bptt_training_reduces_loss():
    torch.manual_seed(0)
    net = SNN(channels=2, window=16, hidden=(16,), classes=2, steps=4, weight_noise=0.05)
    x = torch.randn(32, 16, 2)
    y = (x.mean((1, 2)) > 0).long()
    x = x + (2 * y - 1).view(-1, 1, 1) * 0.5
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_weight_noise_only_in_training_mode():
    net = small(weight_noise=0.1)
    x = torch.randn(3, 32, 3, dtype=torch.float64)
    net.eval()
    torch.testing.assert_close(net(x), net(x))
    net.train()
    assert not torch.equal(net(x), net(x))


def test_argument_errors():
    with pytest.raises(ValueError, match="neuron: 'izh' is not one of leaky, synaptic"):
        SNN(neuron="izh")
    with pytest.raises(ValueError, match="readout: 'rate' is not one of membrane, count"):
        SNN(readout="rate")
    with pytest.raises(ValueError, match="steps: window length 128 is not divisible by T=10"):
        SNN(steps=10)
    with pytest.raises(ValueError, match=r"beta: must be in \[0, 1\], got 1.5"):
        SNN(beta=1.5)
    with pytest.raises(ValueError, match=r"x: expected shape \(batch, 128, 9\), got \(2, 64, 9\)"):
        SNN()(torch.zeros(2, 64, 9))
    with pytest.raises(TypeError, match="call to_analog"):
        SNN().record(torch.zeros(1, 128, 9))
