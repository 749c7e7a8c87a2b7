"""CNN (model.kind: cnn): the input layouts, tiles equal software on ideal, records fold the
output positions into the rows, conversions and bad sizes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import snnx.hw as hw
from snnx.config.schema import build
from snnx.errors import ConfigError
from snnx.nn import CNN, MODELS, AnalogConv1d, AnalogConv2d, AnalogLinear
from snnx.nn.cnn import Params


@pytest.fixture(scope="module")
def ideal():
    return hw.load("ideal")


def test_digits_windows_become_8x8_images():
    """dims 2 on (B, 1, 64): the 64 pixels, row-major, are one 8 x 8 image."""
    net = CNN(channels=64, window=1, classes=10, conv=(3,), hidden=(5,), dims=2, pool=2, seed=1)
    x = torch.rand(4, 1, 64)
    conv, fc1, fc2 = net.layers
    h = F.max_pool2d(torch.relu(F.conv2d(x.view(4, 1, 8, 8), conv.weight, conv.bias,
                                         padding=1)), 2)
    ref = fc2(torch.relu(fc1(h.flatten(1))))
    torch.testing.assert_close(net(x), ref)
    assert net.in_shape == (1, 8, 8) and net.sizes == [((8, 8), (4, 4))]


def test_sensor_windows_are_channels_over_time():
    """dims 1 on (B, W, C): C input channels, W positions."""
    net = CNN(channels=9, window=16, classes=6, conv=(4,), hidden=(5,), kernel=5, pool=4,
              pool_kind="avg", activation="tanh", seed=2)
    x = torch.randn(3, 16, 9)
    conv, fc1, fc2 = net.layers
    h = F.avg_pool1d(torch.tanh(conv(x.transpose(1, 2))), 4)
    torch.testing.assert_close(net(x), fc2(torch.tanh(fc1(h.flatten(1)))))
    assert conv.in_channels == 9 and net.sizes == [((16,), (4,))] and fc1.in_features == 16
    two = CNN(channels=3, window=8, classes=2, conv=(2,), hidden=(4,), dims=2)
    assert two.in_shape == (1, 8, 3)  # a longer window is itself the image


@pytest.mark.parametrize("dims, channels, window", [(1, 3, 12), (2, 16, 1)])
def test_tiles_equal_software_on_ideal_and_read_back(ideal, dims, channels, window):
    net = CNN(channels=channels, window=window, classes=4, conv=(3, 4), hidden=(6,), dims=dims,
              seed=3, dtype=torch.float64)
    chip = net.to_analog(ideal, seed=1)
    conv_cls = AnalogConv1d if dims == 1 else AnalogConv2d
    assert [type(l) for l in chip.layers] == [conv_cls, conv_cls, AnalogLinear, AnalogLinear]
    assert len({id(l.ledger) for l in chip.layers}) == 1
    assert [l.name for l in chip.layers] == ["conv0", "conv1", "fc2", "fc3"]
    x = torch.randn(5, window, channels, dtype=torch.float64)
    torch.testing.assert_close(chip(x), net(x), rtol=0, atol=1e-10)
    rec = chip.record(x)
    torch.testing.assert_close(rec.logits, net(x).detach(), rtol=0, atol=1e-10)
    chip.layers[0].tile.outer_update(rec.inputs[0], torch.randn_like(rec.pre[0]), 1e-3)
    back = chip.to_digital()
    assert not any(hasattr(l, "tile") for l in back.layers)
    torch.testing.assert_close(back(x), chip(x), rtol=0, atol=1e-10)
    assert not torch.allclose(back(x), net(x))


def test_record_folds_output_positions_into_rows(ideal):
    net = CNN(channels=2, window=12, classes=3, conv=(4, 5), hidden=(6,), kernel=3, pool=2)
    chip = net.to_analog(ideal)
    rec = chip.record(torch.randn(7, 12, 2))
    # conv0: 12 positions x 7 windows of 2*3 inputs; conv1: 6 positions of 4*3; fc: 7 rows
    assert [tuple(t.shape) for t in rec.inputs] == [(84, 6), (42, 12), (7, 15), (7, 6)]
    assert [tuple(t.shape) for t in rec.pre] == [(84, 4), (42, 5), (7, 6), (7, 3)]
    assert rec.batch == 7 and rec.logits.shape == (7, 3)
    assert [chip.feedback_features(i) for i in range(3)] == [48, 30, 6]
    assert [chip.feedback_features(i, "channels") for i in range(3)] == [4, 5, 6]


def test_weight_noise_only_in_training_mode():
    net = CNN(channels=2, window=8, classes=3, conv=(4,), hidden=(5,), weight_noise=0.1)
    x = torch.randn(4, 8, 2)
    net.eval()
    assert torch.equal(net(x), net(x))
    net.train()
    assert not torch.allclose(net(x), net(x))


def test_seeded_and_registered():
    a = CNN(channels=2, window=8, classes=3, seed=5)
    b = CNN(channels=2, window=8, classes=3, seed=5)
    c = CNN(channels=2, window=8, classes=3, seed=6)
    assert all(torch.equal(u, v) for u, v in zip(a.state_dict().values(),
                                                 b.state_dict().values()))
    assert not torch.equal(a.layers[0].weight, c.layers[0].weight)
    p = build(Params, {"dims": 2, "conv": [4], "pool": 1})
    net = MODELS["cnn"].from_params(p, channels=64, window=1, classes=10, hidden=(8,))
    assert net.sizes == [((8, 8), (8, 8))] and net.layers[1].in_features == 256


@pytest.mark.parametrize("params, size, match", [
    ({"dims": 2}, (1, 60), r"^model\.cnn\.dims: a 2-D CNN .* square number .* got 60"),
    ({"pool": 4, "conv": [2, 2]}, (8, 2), r"^model\.cnn\.pool: conv layer 1 .* too small"),
    ({"padding": "valid", "kernel": 5}, (3, 2), r"^model\.cnn\.pool: conv layer 0"),
])
def test_sizes_that_do_not_fit_name_the_key(params, size, match):
    p = build(Params, params)
    window, channels = size
    with pytest.raises(ConfigError, match=match):
        CNN.from_params(p, channels=channels, window=window, classes=3, hidden=(4,))


@pytest.mark.parametrize("params, match", [
    ({"conv": []}, r"^model\.cnn\.conv: must list at least one"),
    ({"conv": [0]}, r"^model\.cnn\.conv\[0\]: 0 is out of range"),
    ({"kernel": 4}, r"^model\.cnn\.kernel: padding 'same' needs an odd kernel"),
    ({"dims": 3}, r"^model\.cnn\.dims"),
])
def test_bad_params_name_the_key(params, match):
    with pytest.raises(ConfigError, match=match):
        build(Params, params, "model.cnn")


def test_bad_input_shape():
    net = CNN(channels=2, window=8, classes=3)
    with pytest.raises(ValueError, match=r"x: expected shape \(batch, 8, 2\)"):
        net(torch.randn(4, 2, 8))


def test_mdm_sees_the_patch_rows_of_conv_layers(ideal):
    """MDM's calibration pass records what each tile reads: B*L patch rows for conv layers;
    the re-mapped network computes the same function on ideal hardware."""
    from snnx.transforms.mdm import layer_inputs, mdm

    net = CNN(channels=2, window=8, classes=3, conv=(3,), hidden=(4,), seed=1,
              dtype=torch.float64)
    chip = net.to_analog(ideal)
    x = torch.randn(6, 8, 2, dtype=torch.float64)
    rows = layer_inputs(chip, x)
    assert [tuple(v.shape) for v in rows.values()] == [(48, 6), (6, 12), (6, 4)]
    torch.testing.assert_close(rows["layers.0"], chip.record(x).inputs[0])
    mapped = mdm(chip, {}, calib=x)
    torch.testing.assert_close(mapped.record(x).logits, chip.record(x).logits, rtol=0,
                               atol=1e-10)
