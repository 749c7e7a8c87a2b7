"""Bit-plane QAT (snnx.nn.qat): levels, straight-through gradients, exact plane round trip."""

import doctest
import itertools

import pytest
import torch
import torch.nn.functional as F

from snnx.errors import ConfigError, ShapeError
from snnx.nn import qat
from snnx.nn.qat import (QATLinear, bit_planes, differential_planes, fake_quant_act,
                         fake_quant_weight, from_bit_planes, quantize_weight)


@pytest.mark.parametrize("bits,n", [(2, 1), (3, 3), (4, 7), (8, 127)])
def test_weight_levels_and_scale(bits, n):
    w = torch.linspace(-0.7, 0.5, 1001, dtype=torch.float64)
    q, s = quantize_weight(w, bits)
    assert float(s) == pytest.approx(0.7 / n)
    top = round(0.5 / 0.7 * n)
    assert set(q.unique().tolist()) == set(range(-n, top + 1))  # every level in range used
    assert int(q[0]) == -n and int(q[-1]) == top
    # nearest level: |w - s q| <= s / 2 everywhere (independent: brute force over levels)
    levels = torch.arange(-n, n + 1, dtype=torch.float64) * s
    best = (w.unsqueeze(1) - levels).abs().min(1).values
    assert torch.allclose((w - s * q.double()).abs(), best, atol=1e-12)  # (ties: either one)
    assert torch.allclose(fake_quant_weight(w, bits), s * q.double())


def test_three_bit_default_is_plus_minus_three():
    q, _ = quantize_weight(torch.randn(500, generator=torch.Generator().manual_seed(0)))
    assert int(q.min()) == -3 or int(q.max()) == 3
    assert int(q.abs().max()) == 3 and q.dtype == torch.int64
    q0, s0 = quantize_weight(torch.zeros(4))
    assert float(s0) == 1.0 and int(q0.abs().sum()) == 0


def test_straight_through_gradient_of_weights():
    w = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    c = torch.randn(6, 5, dtype=torch.float64)
    (fake_quant_weight(w, 3) * c).sum().backward()
    assert torch.equal(w.grad, c)


def test_activation_fake_quant_levels_and_clipped_gradient():
    x = torch.linspace(-2, 2, 401, dtype=torch.float64, requires_grad=True)
    y = fake_quant_act(x, 8, x_max=1.0)
    step = 1.0 / 127
    assert torch.allclose(y / step, torch.round(y / step))           # on the grid
    inside = x.detach().abs() <= 1.0
    assert float((y - x).detach().abs()[inside].max()) <= step / 2 + 1e-12
    assert torch.all(y[~inside].abs() == 1.0)
    y.sum().backward()
    assert torch.equal(x.grad, inside.double())
    x2 = torch.randn(100, dtype=torch.float64, requires_grad=True)
    y2 = fake_quant_act(x2, 8)  # per-tensor max: nothing clips, gradient identity
    assert len(torch.unique(y2.detach())) <= 255
    y2.sum().backward()
    assert torch.equal(x2.grad, torch.ones_like(x2))


@pytest.mark.parametrize("bits", [2, 3, 4, 6])
def test_bit_planes_reconstruct_every_level_exactly(bits):
    n = (1 << (bits - 1)) - 1
    q = torch.arange(-n, n + 1).repeat(3).view(3, -1)
    sign, planes = bit_planes(q, bits)
    assert planes.shape == (bits - 1,) + tuple(q.shape)
    assert set(planes.unique().tolist()) <= {0, 1}
    assert torch.equal(from_bit_planes(sign, planes), q)
    # independent: plane k is the k-th binary digit of |q|
    for v, k in itertools.product(range(-n, n + 1), range(bits - 1)):
        idx = (q[0] == v).nonzero()[0, 0]
        assert int(planes[k, 0, idx]) == (abs(v) >> k) & 1
    pos, neg = differential_planes(q, bits)
    weights = (2 ** torch.arange(bits - 1)).view(-1, 1, 1)
    assert torch.equal(((pos - neg) * weights).sum(0), q)
    assert not bool((pos.bool() & neg.bool()).any())


def test_bit_plane_errors():
    with pytest.raises(ShapeError, match=r"^q: levels must lie in \[-3, 3\]"):
        bit_planes(torch.tensor([4]), 3)
    with pytest.raises(ShapeError, match=r"^q: expected an integer"):
        bit_planes(torch.tensor([1.0]), 3)
    with pytest.raises(ConfigError, match=r"^bits:"):
        quantize_weight(torch.ones(2), 1)
    with pytest.raises(ConfigError, match=r"^x_max:"):
        fake_quant_act(torch.ones(2), 8, x_max=0.0)


def test_qat_linear_forward_and_gradient():
    torch.manual_seed(0)
    lin = QATLinear(5, 3, bits=3).double()
    x = torch.randn(4, 5, dtype=torch.float64)
    q, s = lin.quantized()
    ref = F.linear(fake_quant_act(x, 8), s * q.double(), lin.bias)
    out = lin(x)
    assert torch.allclose(out, ref)
    out.sum().backward()
    # straight-through: the weight gradient is that of a linear layer holding w_q
    wq = (s * q.double()).requires_grad_(True)
    F.linear(fake_quant_act(x, 8), wq, lin.bias).sum().backward()
    assert torch.allclose(lin.weight.grad, wq.grad)
    with pytest.raises(ConfigError, match=r"^act_bits:"):
        QATLinear(2, 2, act_bits=1)


def test_docstring_example():
    assert doctest.testmod(qat).failed == 0
