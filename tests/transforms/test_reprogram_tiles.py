"""Transform ``reprogram`` (snnx.transforms.reprogram_tiles): the deployed weights are the
kernel's stale held weights, the report's write counts are the kernel's, the ledger books
the writes, convolutions work, and bad parameters are one-line errors."""

from __future__ import annotations

import doctest
import statistics

import pytest
import torch

import snnx.hw as hw
import snnx.transforms.reprogram_tiles as rt_mod
from snnx.config.seeds import derive
from snnx.errors import ConfigError
from snnx.nn import CNN, MLP
from snnx.transforms import TRANSFORMS, transform_reports
from snnx.transforms.reprogram import reprogram
from snnx.transforms.reprogram_tiles import reprogram_model

SMALL = {"rows": 8, "cols": 16, "arrays": 2, "bits": 8, "low_bits": 3, "p": 0.25,
         "inferences": 3}


def chip_of(net):
    return net.to_analog(hw.load("ideal"), seed=0)


def kernel(weights, seed, **kw):
    opts = {**SMALL, **kw}
    low = opts.pop("low_bits")
    p = opts.pop("p")
    return reprogram(weights, **opts, low_bits=low, p=p if low else 1.0,
                     generator=torch.Generator().manual_seed(derive(seed, "reprogram.stucking")))


def test_doctest():
    assert doctest.testmod(rt_mod).failed == 0


def test_deploys_the_kernels_held_weights_and_reports_its_writes():
    chip = chip_of(MLP([30, 20, 5], seed=1))
    weights = [lyr.weight.detach().double() for lyr in chip.layers]
    out = reprogram_model(chip, {**SMALL, "sort": "max", "greedy": True}, seed=4)
    ref = kernel(weights, 4, sort="max", greedy=True)
    for lyr, W, W0 in zip(out.layers, ref.held[-1], weights):
        torch.testing.assert_close(lyr.tile.read_weight().double(), W, rtol=0, atol=1e-6)
        torch.testing.assert_close(lyr.weight.detach().double(), W, rtol=0, atol=1e-6)
    assert any(not torch.allclose(W, q) for W, q in zip(ref.held[-1], ref.intended))  # stale
    for lyr, W0 in zip(chip.layers, weights):                   # the input is untouched
        assert torch.equal(lyr.weight.detach().double(), W0)
    x = torch.rand(40, 30, generator=torch.Generator().manual_seed(2))
    y = chip(x).argmax(1)

    def measure(m):
        with torch.no_grad():
            return float((m(x).argmax(1) == y).double().mean())

    rep = transform_reports(out, measure)["reprogram"]
    parts = {"naive": kernel(weights, 4, sort="none", greedy=False, low_bits=0),
             "sorted": kernel(weights, 4, sort="max", greedy=True, low_bits=0),
             "stuck": kernel(weights, 4, sort="none", greedy=False),
             "sorted_stuck": ref}
    for name, res in parts.items():
        steady = statistics.fmean(res.flips_per_inference[1:])
        assert rep[f"writes_{name}"] == steady
        assert rep[f"max_writes_per_cell_{name}"] == res.flips_max
        if name != "naive":
            assert rep[f"reduction_{name}"] == pytest.approx(rep["writes_naive"] / steady)
    assert rep["accuracy_deployed_before"] == 1.0
    assert rep["accuracy_drop"] == pytest.approx(rep["accuracy_intended"] - rep["accuracy_held"])
    assert rep["tiles"] == len(ref.order)
    added = out.ledger.counts["cells_written"] - chip.ledger.counts["cells_written"]
    reprogrammed = sum(2 * lyr.tile.in_features * lyr.tile.out_features for lyr in out.layers)
    assert added == ref.flips_total + reprogrammed              # the schedule + the deployment


def test_no_stucking_holds_the_intended_weights():
    chip = chip_of(MLP([30, 20, 5], seed=1))
    out = reprogram_model(chip, {**SMALL, "low_bits": 0}, seed=0)
    ref = kernel([lyr.weight.detach().double() for lyr in chip.layers], 0, low_bits=0,
                 sort="max", greedy=True)
    for lyr, q in zip(out.layers, ref.intended):
        torch.testing.assert_close(lyr.tile.read_weight().double(), q, rtol=0, atol=1e-6)
    rep = transform_reports(out, lambda m: 0.75)["reprogram"]
    assert rep["writes_stuck"] == rep["writes_naive"] and rep["accuracy_drop"] == 0.0


def test_convolutions_stream_as_matrices():
    net = CNN(channels=64, window=1, classes=10, hidden=(12,), dims=2, conv=(4, 6),
              kernel=3, padding="same", pool=2, seed=0)
    chip = chip_of(net)
    out = reprogram_model(chip, SMALL, seed=1)
    shapes = [tuple(lyr.tile.shape) for lyr in out.layers]
    assert shapes[:2] == [(4, 9), (6, 36)]
    ref = kernel([lyr.weight.detach().double().reshape(lyr.tile.shape) for lyr in chip.layers],
                 1, sort="max", greedy=True)
    for lyr, W in zip(out.layers, ref.held[-1]):
        torch.testing.assert_close(lyr.tile.read_weight().double(), W, rtol=0, atol=1e-6)
    x = torch.rand(3, 1, 64)
    assert out(x).shape == (3, 10)


@pytest.mark.parametrize("params,key,says", [
    ({"p": 1.5}, "p", "out of range [0, 1]"), ({"p": -0.1}, "p", "out of range"),
    ({"low_bits": 9}, "low_bits", "must be <= bits = 8"),
    ({"bits": 4, "cols": 3}, "cols", "cannot hold one 4-bit weight"),
    ({"sort": "median"}, "sort", "is not one of"), ({"arrays": 0}, "arrays", "out of range")])
def test_bad_parameters_name_the_key(params, key, says):
    with pytest.raises(ConfigError) as e:
        TRANSFORMS.params("reprogram", params, "transforms[1]")
    msg = str(e.value)
    assert msg.startswith(f"transforms[1].{key}: ") and says in msg and "\n" not in msg


def test_model_without_tiles_is_refused():
    with pytest.raises(ConfigError, match="^reprogram: the model has no layers on tiles"):
        reprogram_model(MLP([4, 3]), {})
