"""Fused spiking layers equal the snntorch neuron loop: values bit for bit, gradients to 1e-5."""

from __future__ import annotations

import itertools

import pytest
import snntorch as snn
import torch

from snnx.errors import ConfigError, ShapeError
from snnx.nn import READOUTS, SNN, surrogate
from snnx.nn.fused import _discount, _lif_numpy, _lif_torch, reverse_discounted, spiking_layer

SURROGATES = [("atan", None), ("atan", 5.0), ("fast_sigmoid", None), ("fast_sigmoid", 10.0)]
RTOL = {torch.float64: 1e-10, torch.float32: 1e-5}


def close(a: torch.Tensor, b: torch.Tensor, dtype) -> None:
    """|a - b| <= rtol (|b| + max|b|): relative per element, relative to the scale near 0."""
    tol = RTOL[dtype]
    torch.testing.assert_close(a, b, rtol=tol, atol=tol * float(b.abs().max()))


def snntorch_layer(cur, sg, beta, theta, alpha, reset):
    """The reference: one snntorch neuron called step by step from zero state."""
    kw = dict(beta=beta, threshold=theta, spike_grad=sg, reset_mechanism=reset)
    neu = snn.Synaptic(alpha=alpha, **kw) if alpha is not None else snn.Leaky(**kw)
    mem, syn, us, ss = torch.zeros_like(cur[0]), torch.zeros_like(cur[0]), [], []
    for t in range(cur.shape[0]):
        if alpha is not None:
            spk, syn, mem = neu(cur[t], syn, mem)
        else:
            spk, mem = neu(cur[t], mem)
        us.append(mem)
        ss.append(spk)
    return torch.stack(us), torch.stack(ss)


@pytest.mark.parametrize("alpha", [None, 0.75])
@pytest.mark.parametrize("reset", ["subtract", "none"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_layer_matches_snntorch_neuron(alpha, reset, dtype):
    g = torch.Generator().manual_seed(0)
    for (kind, slope), T in itertools.product(SURROGATES, (1, 4, 16)):
        sg = surrogate(kind, slope)
        # beta, theta as float32 buffers hold them (snntorch keeps float32 tensors)
        beta, theta = float(torch.tensor(0.85)), float(torch.tensor(0.7))
        a = None if alpha is None else float(torch.tensor(alpha))
        cur = (torch.rand(T, 3, 7, generator=g, dtype=dtype) * 1.2 - 0.2)
        gu, gs = torch.randn(2, T, 3, 7, generator=g, dtype=dtype)
        c1, c2 = cur.clone().requires_grad_(), cur.clone().requires_grad_()
        u1, s1 = spiking_layer(c1, sg, beta=beta, theta=theta, alpha=a, reset=reset)
        u2, s2 = snntorch_layer(c2, sg, beta, theta, a, reset)
        assert torch.equal(u1, u2) and torch.equal(s1, s2)  # same order of operations
        if T == 16:
            assert 0.05 < float(s1.detach().mean()) < 0.95
        ((u1 * gu).sum() + (s1 * gs).sum()).backward()
        ((u2 * gu).sum() + (s2 * gs).sum()).backward()
        close(c1.grad, c2.grad, dtype)
        assert c1.grad.abs().min() > 0  # gradient reaches every input
        # only one of the outputs used: the other gradient is None inside the node
        for use_u in (True, False):
            c3, c4 = cur.clone().requires_grad_(), cur.clone().requires_grad_()
            o3 = spiking_layer(c3, sg, beta=beta, theta=theta, alpha=a, reset=reset)
            o4 = snntorch_layer(c4, sg, beta, theta, a, reset)
            (o3[0 if use_u else 1] * gu).sum().backward()
            (o4[0 if use_u else 1] * gu).sum().backward()
            close(c3.grad, c4.grad, dtype)


def test_numpy_and_torch_paths_agree():
    """The torch loop (non-CPU devices) equals the numpy loop; the backward loop equals the
    (T x T) discount matmul used off CPU."""
    g = torch.Generator().manual_seed(2)
    for dtype, alpha, sub in itertools.product((torch.float32, torch.float64), (None, 0.6),
                                               (True, False)):
        cur = torch.rand(12, 4, 5, generator=g, dtype=dtype)
        un, sn = _lif_numpy(cur, 0.9, 1.0, alpha, sub)
        ut, st = _lif_torch(cur, 0.9, 1.0, alpha, sub)
        assert torch.equal(un, ut) and torch.equal(sn, st) and sn.dtype == dtype
        x = torch.randn(12, 4, 5, generator=g, dtype=dtype)
        ref = (_discount(12, 0.8, dtype, "cpu") @ x.reshape(12, -1)).view_as(x)
        keep = x.clone()
        close(reverse_discounted(x, 0.8), ref, dtype)
        assert torch.equal(x, keep)  # not in place unless asked
        close(reverse_discounted(x.expand(12, 4, 5), 0.8), ref, dtype)  # strided input
        assert reverse_discounted(x, 0.8, inplace=True).data_ptr() == x.data_ptr()


def nets(**kw):
    base = dict(channels=3, window=16, hidden=(12, 10), classes=4, gain=3.0, bias=True)
    base.update(kw)
    return SNN(fused=True, **base), SNN(fused=False, **base)


def compare(a: SNN, b: SNN, x: torch.Tensor, dtype, steps: int) -> None:
    """Logits bit-equal, gradients of weights, biases and input close; activity non-trivial."""
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    la, lb = a(xa), b(xb)
    assert torch.equal(la, lb)
    w = torch.randn(lb.shape, generator=torch.Generator().manual_seed(5), dtype=dtype)
    (la * w).sum().backward()
    (lb * w).sum().backward()
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        close(pa.grad, pb.grad, dtype)
        if steps > 1 and "weight" in name:  # W_l's gradient needs spikes of layer l-1
            assert pb.grad.abs().max() > 0, name
    if b.encoding == "direct":
        close(xa.grad, xb.grad, dtype)
        assert xb.grad.abs().max() > 0


@pytest.mark.parametrize("neuron", ["leaky", "synaptic"])
@pytest.mark.parametrize("kind,slope", SURROGATES)
@pytest.mark.parametrize("readout", ["membrane", "count"])
@pytest.mark.parametrize("encoding", ["direct", "delta", "rate"])
def test_snn_fused_equals_snntorch_loop(neuron, kind, slope, readout, encoding):
    for dtype, steps in itertools.product((torch.float64, torch.float32), (1, 4, 16)):
        a, b = nets(steps=steps, neuron=neuron, surrogate=kind, slope=slope, readout=readout,
                    encoding=encoding, dtype=dtype)
        assert torch.equal(a.gen.get_state(), b.gen.get_state())  # same rate-coding draws
        x = torch.randn(5, 16, 3, dtype=dtype, generator=torch.Generator().manual_seed(1))
        compare(a, b, x, dtype, steps)


@pytest.mark.parametrize("hidden", [(), (8, 8, 8)])
def test_depth_and_weight_noise(hidden):
    """One layer (the readout only), four layers, and the weight-noise training path."""
    for dtype, readout in itertools.product((torch.float64, torch.float32), READOUTS):
        a, b = nets(steps=4, hidden=hidden, readout=readout, weight_noise=0.2, dtype=dtype)
        x = torch.randn(6, 16, 3, dtype=dtype, generator=torch.Generator().manual_seed(3))
        compare(a, b, x, dtype, 4)
        assert torch.equal(a.gen.get_state(), b.gen.get_state())  # noise drawn alike


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("neuron", ["leaky", "synaptic"])
def test_adam_training_gives_same_weights(dtype, neuron):
    a, b = nets(steps=8, neuron=neuron, dtype=dtype, weight_noise=0.05)
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(16, 16, 3, dtype=dtype, generator=gen)
    y = torch.randint(0, 4, (16,), generator=gen)
    opts = [torch.optim.Adam(n.parameters(), lr=0.02) for n in (a, b)]
    w0 = [p.detach().clone() for p in b.parameters()]
    for _ in range(5):
        for net, opt in zip((a, b), opts):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
    for pa, pb, p0 in zip(a.parameters(), b.parameters(), w0):
        close(pa.detach(), pb.detach(), dtype)
        assert not torch.equal(pb.detach(), p0)  # training moved every parameter


def test_flag_kept_by_copies_and_errors():
    net = SNN(channels=3, window=16, hidden=(4,), classes=2, steps=4, fused=False)
    assert net._kwargs["fused"] is False
    ana = net.to_analog("ideal")
    assert ana.fused is False and ana.to_digital().fused is False
    assert SNN(channels=3, window=16, hidden=(4,), classes=2, steps=4).fused is True
    sg, cur = surrogate(), torch.zeros(4, 2, 3)
    with pytest.raises(ShapeError, match=r"^cur: expected a floating \(T, B, n\) tensor"):
        spiking_layer(cur[0], sg, beta=0.9, theta=1.0)
    with pytest.raises(ConfigError, match="^reset: 'zero' is not one of subtract, none"):
        spiking_layer(cur, sg, beta=0.9, theta=1.0, reset="zero")
    with pytest.raises(ConfigError, match=r"^alpha: must be in \[0, 1\], got 1.5"):
        spiking_layer(cur, sg, beta=0.9, theta=1.0, alpha=1.5)
    with pytest.raises(ConfigError, match="^theta: must be > 0, got 0.0"):
        spiking_layer(cur, sg, beta=0.9, theta=0.0)


def test_torch_path_end_to_end(monkeypatch):
    """The path other devices take (torch forward loop, matmul BPTT), run here on CPU."""
    monkeypatch.setattr("snnx.nn.fused._numpy_ok", lambda x: False)
    for dtype, neuron, readout in itertools.product((torch.float64, torch.float32),
                                                    ("leaky", "synaptic"), READOUTS):
        a, b = nets(steps=8, neuron=neuron, readout=readout, dtype=dtype)
        x = torch.randn(5, 16, 3, dtype=dtype, generator=torch.Generator().manual_seed(6))
        compare(a, b, x, dtype, 8)
