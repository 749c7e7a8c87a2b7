"""Hardware-aware training views (snnx.nn.weight_views): QAT and noise-aware weights."""

import doctest

import torch

import snnx.hw as hw
from snnx.hw.rtn import RTNParams, cell_moments
from snnx.nn import MLP
from snnx.nn import weight_views as views
from snnx.nn.qat import fake_quant_weight


def _net():
    return MLP([6, 5, 3], seed=1)


def test_quant_view_is_fake_quantisation_with_a_straight_through_gradient():
    net = _net()
    w0 = net.layers[0].weight.detach().clone()
    views.attach(net, qat_bits=3)
    lyr = net.layers[0]
    assert torch.equal(lyr.weight, fake_quant_weight(w0, 3))
    x = torch.randn(4, 6)
    net.train()
    net(x).sum().backward()
    g = lyr.parametrizations.weight.original.grad
    plain = _net()
    plain.layers[0].weight.data.copy_(fake_quant_weight(w0, 3))
    plain.layers[1].weight.data.copy_(fake_quant_weight(plain.layers[1].weight, 3))
    plain(x).sum().backward()
    assert torch.allclose(g, plain.layers[0].weight.grad)  # d w_q / d w = 1
    views.bake(net)
    assert set(net.state_dict()) == set(_net().state_dict())
    assert torch.equal(net.layers[0].weight, fake_quant_weight(w0, 3))


def test_noise_free_view_is_the_tiles_quantised_mapping():
    cfg = hw.load("rram_generic", **{"noise.read": None, "noise.prog_sigma": 0.0,
                                     "device.stuck_at": 0.0, "programming.scheme": "one_shot"})
    w = torch.randn(5, 7, generator=torch.Generator().manual_seed(0))
    tile = hw.Tile(w, cfg, seed=0)  # independent: what a programmed tile holds
    assert torch.allclose(views.noisy_read(w, cfg, torch.Generator()), tile.read_weight(),
                          atol=1e-6)


def test_noisy_read_moments_follow_the_rtn_formulas():
    cfg = hw.load("resna", **{"noise.read.rtn.bandwidth": 1e11, "noise.read.rtn.b_rtn": 0.3})
    w = torch.tensor([[1.0, -0.5, 0.0, 0.26]], dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    draws = views.noisy_read(w.expand(20000, 4), cfg, gen)  # rows: independent draws
    # independent: per-cell moments of the kernel on the cells of the mapping (3 levels)
    p = cfg.noise.read["rtn"]
    k = RTNParams(g_max=cfg.device.g_max, v_read=cfg.periphery.v_read, bandwidth=p.bandwidth,
                  b_rtn=p.b_rtn, a_rtn=p.a_rtn)
    r = cfg.device.g_max
    levels = torch.tensor([[1.0, 0.0, 0.0, 0.5]], dtype=torch.float64)  # |w| / max on 0, .5, 1
    Gp = torch.where(w > 0, levels, 0.0) * r
    Gn = torch.where(w < 0, torch.tensor([[0.0, 0.5, 0.0, 0.0]], dtype=torch.float64), 0.0) * r
    (mp, vp), (mn, vn) = cell_moments(Gp, k), cell_moments(Gn, k)
    mean = (Gp - Gn + mp - mn) / r
    sd = ((vp + vn) / r ** 2).sqrt()
    assert torch.allclose(draws.mean(0), mean, atol=5 * float(sd.max()) / 20000 ** 0.5 + 1e-9)
    assert torch.allclose(draws.std(0), sd, rtol=0.05, atol=1e-9)


def test_noise_view_only_in_training_and_gradient_passes_through():
    cfg = hw.load("rram_generic")
    net = _net()
    w0 = net.layers[0].weight.detach().clone()
    views.attach(net, noise_hw=cfg, gen=torch.Generator().manual_seed(0))
    net.eval()
    assert torch.equal(net.layers[0].weight, w0)
    net.train()
    a, b = net.layers[0].weight.detach(), net.layers[0].weight.detach()
    assert not torch.equal(a, b), "a fresh draw on every forward pass"
    net(torch.randn(3, 6)).sum().backward()
    assert net.layers[0].parametrizations.weight.original.grad is not None
    views.bake(net)
    assert torch.equal(net.layers[0].weight, w0)  # the float weights remain


def test_docstring_example():
    assert doctest.testmod(views).failed == 0
