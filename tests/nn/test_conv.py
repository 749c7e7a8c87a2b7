"""AnalogConv1d / AnalogConv2d: torch's convolution on ideal hardware (forward, input
gradient, update), one tile read per patch row, conversions and bad input."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import snnx.hw as hw
from snnx.nn import AnalogConv1d, AnalogConv2d

GEOMETRIES = [dict(padding=1), dict(padding=0, stride=2), dict(padding=2, dilation=2),
              dict(padding=(0, 1), stride=(1, 2))]
CASES = [(1, g) for g in GEOMETRIES[:3]] + [(2, g) for g in GEOMETRIES]


@pytest.fixture(scope="module")
def ideal():
    return hw.load("ideal")


def make(dims, geometry, ideal, dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    conv = (nn.Conv1d if dims == 1 else nn.Conv2d)(3, 5, 3, dtype=dtype, **geometry)
    analog = (AnalogConv1d if dims == 1 else AnalogConv2d).from_conv(conv, ideal, name="c")
    shape = (4, 3, 13) if dims == 1 else (4, 3, 9, 7)
    return conv, analog, torch.randn(*shape, dtype=dtype)


@pytest.mark.parametrize("dims, geometry", CASES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_forward_and_autograd_equal_torch_on_ideal(ideal, dims, geometry, dtype):
    conv, analog, x = make(dims, geometry, ideal, dtype)
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    y1, y2 = conv(x1), analog(x2)
    assert y2.shape == y1.shape
    g = torch.randn_like(y1)
    (y1 * g).sum().backward()
    (y2 * g).sum().backward()
    tol = dict(rtol=0, atol=1e-5) if dtype == torch.float32 else dict(rtol=0, atol=1e-10)
    torch.testing.assert_close(y2, y1, **tol)
    torch.testing.assert_close(analog.analog_forward(x), y1.detach(), **tol)
    torch.testing.assert_close(x2.grad, x1.grad, **tol)
    torch.testing.assert_close(analog.bias.grad, conv.bias.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(analog.weight.grad, conv.weight.grad.reshape(5, -1),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dims, geometry", CASES)
def test_verbs_on_patch_rows_give_input_gradient_and_update(ideal, dims, geometry):
    """Without autograd: dL/dx = fold(tile.mvm_t(δ rows)), W <- W - lr δ^T P by
    tile.outer_update equals torch's weight gradient times lr."""
    conv, analog, x = make(dims, geometry, ideal)
    xr = x.clone().requires_grad_(True)
    y = conv(xr)
    g = torch.randn_like(y)
    (y * g).sum().backward()
    rows, size = analog.patches(x)
    assert tuple(size) == tuple(y.shape[2:]) and rows.shape == (4 * y[0, 0].numel(), 3 * 3 ** dims)
    delta = analog.to_rows(g)
    torch.testing.assert_close(analog.to_map(delta, 4, size), g)
    gx = analog.fold(analog.tile.mvm_t(delta), 4, x.shape[2:])
    torch.testing.assert_close(gx, xr.grad, rtol=0, atol=1e-10)
    lr = 1e-3  # small enough that no weight leaves the tile's range (it would saturate)
    w0 = analog.tile.read_weight().clone()
    analog.tile.outer_update(rows, delta, lr)
    step = analog.tile.read_weight() - w0
    torch.testing.assert_close(step, -lr * conv.weight.grad.reshape(5, -1), rtol=0, atol=1e-10)


def test_forward_reads_one_vector_per_output_position(ideal):
    """The ledger counts B * L vector reads: the same as tile.mvm of the B*L patch rows, and
    B*L times a single read."""
    cfg = hw.load("rram_generic")
    torch.manual_seed(1)
    a = AnalogConv2d(3, 20, 3, cfg, padding=1, name="c")
    x = torch.randn(2, 3, 6, 5)
    before = dict(a.ledger.counts)
    a.analog_forward(x)
    conv_reads = {k: v - before.get(k, 0.0) for k, v in a.ledger.counts.items()}
    B, L = 2, 6 * 5
    ref = AnalogConv2d(3, 20, 3, cfg, padding=1, name="c")
    mark = dict(ref.ledger.counts)
    ref.tile.mvm(torch.rand(1, 27))
    one = {k: v - mark.get(k, 0.0) for k, v in ref.ledger.counts.items()}
    for op in ("dac", "adc", "cell_read"):
        assert one[op] > 0 and conv_reads[op] == B * L * one[op]


def test_autograd_input_gradient_comes_from_the_tile(ideal):
    conv, analog, x = make(2, dict(padding=1), ideal)
    assert "c/adc_t" not in analog.ledger.area
    with torch.no_grad():
        analog.weight.data.zero_()  # .data: no re-programming; the tile still holds the kernel
    xr = x.clone().requires_grad_(True)
    analog(xr).sum().backward()
    ref = x.clone().requires_grad_(True)
    conv(ref).sum().backward()
    torch.testing.assert_close(xr.grad, ref.grad, rtol=0, atol=1e-10)
    assert analog.ledger.counts["adc_t"] > 0  # a transposed read (shared ADCs: no extra area)
    assert "c/adc_t" not in analog.ledger.area


def test_optimizer_step_reprograms_and_noisy_training_runs(ideal):
    conv, analog, x = make(1, dict(padding=1), ideal)
    opt = torch.optim.SGD(analog.parameters(), lr=0.1)
    analog(x).pow(2).sum().backward()
    opt.step()
    ref = F.conv1d(x, analog.kernel.detach(), analog.bias.detach(), padding=1)
    torch.testing.assert_close(analog(x), ref, rtol=0, atol=1e-10)
    noisy = AnalogConv1d.from_conv(conv.float(), hw.load("rram_generic"), seed=2)
    loss = noisy(x.float()).pow(2).mean()
    loss.backward()
    assert torch.isfinite(noisy.weight.grad).all() and noisy.ledger.counts["pulse"] > 0


def test_to_conv_reads_the_tile_back(ideal):
    conv, analog, x = make(2, dict(padding=1, stride=2), ideal)
    rows, _ = analog.patches(x)
    analog.tile.outer_update(rows, torch.randn(rows.shape[0], 5, dtype=x.dtype), 1e-3)
    back = analog.to_conv()
    assert isinstance(back, nn.Conv2d) and back.stride == (2, 2) and back.padding == (1, 1)
    torch.testing.assert_close(back(x), analog(x), rtol=0, atol=1e-10)
    assert not torch.allclose(back.weight, conv.weight)


def test_same_padding_and_defaults(ideal):
    a = AnalogConv2d(2, 4, 5, ideal, padding="same", dilation=2, seed=3)
    assert a.padding == (4, 4) and a.output_size((7, 6)) == (7, 6)
    assert a.tile.shape == (4, 2 * 25) and a.weight.abs().max() <= 1 / 50 ** 0.5
    x = torch.randn(1, 2, 7, 6)
    ref = F.conv2d(x, a.kernel.detach(), a.bias.detach(), padding="same", dilation=2)
    torch.testing.assert_close(a(x), ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize("kwargs, match", [
    (dict(padding="same", kernel_size=4), "padding: 'same' needs"),
    (dict(padding="full"), "padding: 'full' is not"),
    (dict(padding=-1), "padding: must be >= 0"),
    (dict(stride=0), "must be >= 1"),
    (dict(kernel_size=(3, 3, 3)), "kernel_size: expected 2"),
    (dict(weight=torch.zeros(4, 2, 2, 2)), r"weight: expected shape \(4, 2, 3, 3\)"),
])
def test_bad_arguments_name_the_argument(ideal, kwargs, match):
    args = dict(kernel_size=3) | kwargs
    with pytest.raises(ValueError, match=match):
        AnalogConv2d(2, 4, hw=ideal, **args)


def test_bad_input_and_unsupported_torch_convs(ideal):
    a = AnalogConv1d(2, 4, 3, ideal)
    with pytest.raises(ValueError, match=r"x: expected \(B, C, L\) with C = 2"):
        a(torch.randn(3, 5, 8))
    with pytest.raises(ValueError, match="smaller than the kernel"):
        a(torch.randn(3, 2, 2))
    with pytest.raises(ValueError, match="groups=1"):
        AnalogConv2d.from_conv(nn.Conv2d(4, 4, 3, groups=2), ideal)
    with pytest.raises(ValueError, match="zero padding"):
        AnalogConv2d.from_conv(nn.Conv2d(2, 4, 3, padding=1, padding_mode="circular"), ideal)
