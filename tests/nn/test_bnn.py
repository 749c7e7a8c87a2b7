"""``model.kind: bnn`` (snnx.nn.bnn.BinaryNet): the chip equals the software net on ideal
tiles, the folded integer layers equal the BatchNorm network, the rule interface follows its
formulas, pretraining through the pipeline's loop works."""

from __future__ import annotations

import doctest

import pytest
import torch

import snnx.hw as hw
import snnx.nn.bnn as bnn_mod
from snnx.config.schema import build
from snnx.learn import make_rule
from snnx.nn import MODELS, BinaryNet
from snnx.nn.binary import _bn_affine
from snnx.pipeline import model as pm
from snnx.transforms.encrypt import bnn_forward


def gen(seed):
    return torch.Generator().manual_seed(seed)


def trained_like(kind="binary", sizes=(20, 16, 12, 5), seed=0):
    """A net with random BatchNorm statistics (negative scales included), eval mode."""
    net = BinaryNet(list(sizes), kind, seed=seed)
    g = gen(seed + 1)
    with torch.no_grad():
        for bn in net.norms:
            bn.weight.copy_(torch.randn(bn.num_features, generator=g))
            bn.bias.copy_(torch.randn(bn.num_features, generator=g))
            bn.running_mean.copy_(torch.randn(bn.num_features, generator=g) * 2)
            bn.running_var.copy_(torch.rand(bn.num_features, generator=g) * 4 + 0.5)
    return net.eval()


def test_doctest():
    assert doctest.testmod(bnn_mod).failed == 0


@pytest.mark.parametrize("kind", ["binary", "ternary"])
def test_chip_equals_software_on_ideal_tiles(kind):
    net = trained_like(kind)
    chip = net.to_analog(hw.load("ideal"), seed=3)
    x = torch.rand(50, 20, generator=gen(2))
    with torch.no_grad():
        torch.testing.assert_close(chip(x), net(x), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(chip.record(x).logits, net(x), rtol=1e-5, atol=1e-5)
    for lyr, sw in zip(chip.layers, net.layers):
        assert torch.equal(lyr.weight.detach(), sw.quantized().detach())
    back = chip.to_digital()
    with torch.no_grad():
        torch.testing.assert_close(back(x), net(x), rtol=1e-5, atol=1e-5)


def test_integer_layers_are_the_batchnorm_network():
    net = trained_like()
    layers, head = net.integer_layers()
    assert [tuple(W.shape) for W, _ in layers] == [(20, 16), (16, 12), (12, 5)]
    assert all(bool((W.abs() == 1).all()) and bool((B == B.round()).all()) for W, B in layers)
    x = torch.rand(300, 20, generator=gen(4))
    with torch.no_grad():
        torch.testing.assert_close(head(bnn_forward(net.encode_input(x), layers)),
                                   net(x).double(), rtol=1e-5, atol=1e-5)
    assert trained_like("ternary").integer_layers() is None


def test_rule_interface_formulas():
    chip = trained_like().to_analog(hw.load("ideal"))
    x = torch.rand(7, 20, generator=gen(5))
    rec = chip.record(x)
    assert [tuple(t.shape) for t in rec.inputs] == [(7, 20), (7, 16), (7, 12)]
    assert bool((rec.inputs[1].abs() == 1).all())                 # sign activations
    for i, bn in enumerate(chip.norms[:-1]):
        g, c = _bn_affine(bn)
        z = g * rec.pre[i].double() + c
        expect = (g * (z.abs() <= 1)).float()
        torch.testing.assert_close(chip.local_deriv(i, rec), expect)
    e = torch.randn(7, 5, generator=gen(6))
    g_last, _ = _bn_affine(chip.norms[-1])
    torch.testing.assert_close(chip.output_delta(rec, e), e * g_last.float())
    before = [lyr.tile.read_weight().clone() for lyr in chip.layers]
    make_rule("dfa", lr=0.1, seed=0).step(chip, x, torch.arange(7) % 5)
    assert any(not torch.equal(b, lyr.tile.read_weight()) for b, lyr in zip(before, chip.layers))


def test_pretraining_with_a_last_batch_of_one_and_clipping():
    params = build(MODELS.entry("bnn").params, {})
    net = MODELS["bnn"].from_params(params, channels=20, window=1, classes=3, hidden=(8,),
                                    seed=0)
    x, y = torch.rand(33, 20, generator=gen(7)), torch.arange(33) % 3
    with torch.no_grad():
        net.layers[0].weight.mul_(50)                            # far outside [-1, 1]
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    pm.train_epoch(net, opt, x, y, batch=16, gen=gen(0))         # 16 + 16 + 1 samples
    assert not net.training
    assert float(net.layers[0].weight.detach().abs().max()) <= 1.05 + 1e-6   # one step past
    assert net.integer_layers() is not None
