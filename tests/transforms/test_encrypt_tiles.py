"""Transform ``encrypt`` (snnx.transforms.encrypt_tiles): keys from the chip's PUF as the
kernels derive them, cells holding the kernels' W', outputs unchanged with the key, on-line
learning through it, composition with MDM, the report block, state checks and errors."""

from __future__ import annotations

import doctest

import pytest
import torch

import snnx.hw as hw
import snnx.transforms.encrypt_tiles as et_mod
from snnx.config.seeds import derive
from snnx.errors import ConfigError
from snnx.learn import make_rule
from snnx.nn import MLP, BinaryNet
from snnx.pipeline import model as pm
from snnx.transforms import TRANSFORMS, apply_transforms, transform_reports
from snnx.transforms.encrypt import (E_GATE, LayerKey, SimulatedPUF, _sha, derive_keys,
                                     encrypt_layer, keyed_forward)
from snnx.transforms.encrypt_tiles import encrypt
from snnx.transforms.mdm import mdm

SLICED = {"periphery.weight_bits": 8, "periphery.bits_per_cell": 1,
          "periphery.input_bit_serial": True, "periphery.dac_bits": 8}


def gen(seed):
    return torch.Generator().manual_seed(seed)


def mlp_chip(cfg=None, sizes=(20, 16, 5), seed=0):
    return MLP(list(sizes), seed=seed).to_analog(cfg or hw.load("ideal"), seed=seed)


def lab_keys(chip, seed, variant="full", purpose="encrypt.puf"):
    """The keys the transform's PUF gives (what the lab can re-derive for a check)."""
    puf = SimulatedPUF(256, generator=gen(derive(seed, purpose)))
    shapes = [(lyr.tile.in_features, lyr.tile.out_features) for lyr in chip.layers]
    return derive_keys(puf.response(), shapes, variant)


def bnn_chip(seed=0, sizes=(24, 16, 12, 6)):
    """A BinaryNet with non-trivial BatchNorms (some negative scales), on ideal tiles."""
    net = BinaryNet(list(sizes), seed=seed)
    g = gen(seed + 1)
    with torch.no_grad():
        for bn in net.norms:
            bn.weight.copy_(torch.randn(bn.num_features, generator=g))
            bn.bias.copy_(torch.randn(bn.num_features, generator=g))
            bn.running_mean.copy_(torch.randn(bn.num_features, generator=g) * 3)
    return net.eval().to_analog(hw.load("ideal"), seed=seed)


def test_doctest():
    assert doctest.testmod(et_mod).failed == 0


def test_outputs_unchanged_cells_scrambled_input_untouched():
    chip = mlp_chip()
    G0 = [lyr.tile.conductances.clone() for lyr in chip.layers]
    out = encrypt(chip, {}, seed=7)
    x = torch.randn(9, 20, generator=gen(1))
    torch.testing.assert_close(out(x), chip(x), rtol=1e-5, atol=1e-6)
    for lyr, lo, keys, G in zip(chip.layers, out.layers, lab_keys(chip, 7), G0):
        assert torch.equal(lyr.tile.conductances, G) and lyr.tile.layout.key is None
        t = lo.tile
        assert t.layout.key.sha256 == _sha([keys])                # the kernels' key
        cells = t.layout.weights(t.conductances)
        W = lyr.weight.detach()
        torch.testing.assert_close(cells, t.layout.key.scramble(W))
        torch.testing.assert_close(t.read_weight(), W)
        assert (cells - W).abs().max() > 0.1


def test_bnn_cells_are_the_kernels_encrypted_weights_and_paths_agree():
    chip = bnn_chip()
    out = encrypt(chip, {}, seed=3)
    keys = lab_keys(chip, 3)
    for lyr, k in zip(out.layers, keys):
        t = lyr.tile
        W = lyr.weight.detach()                                  # (out, in) +-1
        Wk, _ = encrypt_layer(W.T.float(), torch.zeros(W.shape[0]), k)   # kernel (in, out)
        assert torch.equal(torch.sign(t.layout.weights(t.conductances)).float(), Wk.T)
    x = torch.rand(200, 24, generator=gen(4))
    layers, head = chip.integer_layers()
    enc = [encrypt_layer(W, B, k) for (W, B), k in zip(layers, keys)]
    kernel = head(keyed_forward(out.encode_input(x), enc, keys))
    with torch.no_grad():
        tiles = out.record(x).logits
    torch.testing.assert_close(tiles.double(), kernel, rtol=1e-6, atol=1e-6)
    assert torch.equal(tiles.argmax(1), kernel.argmax(1))


def _labelled(chip, n=300, seed=5, dim=20):
    x = torch.rand(n, dim, generator=gen(seed))
    with torch.no_grad():
        y = pm.logits_of(chip, x).argmax(1)
    return x, y, lambda m: pm.accuracy(m, x, y)


@pytest.mark.parametrize("which", ["mlp", "bnn"])
def test_report_block(which):
    chip = mlp_chip(sizes=(20, 32, 32, 10)) if which == "mlp" else bnn_chip(
        sizes=(20, 32, 32, 10))
    x, y, measure = _labelled(chip)
    out = encrypt(chip, {}, calib=x[:8], seed=11)
    rep = transform_reports(out, measure)["encryption"]
    assert rep["path"] == ("tiles" if which == "mlp" else "integer")
    assert rep["accuracy_plain"] == rep["accuracy_with_key"] == 1.0
    for k in ("accuracy_without_key", "accuracy_wrong_key", "accuracy_swap_only",
              "accuracy_inversion_only"):
        assert 0.0 <= rep[k] < 1.0, k
    shapes = [(20, 32), (32, 32), (32, 10)]
    assert rep["xor_per_inference"] == 20 + 32 + 32
    assert rep["mux_per_inference"] == 32 + 32 + 10
    assert rep["key_bits"] == 84 + 16 + 16 + 5
    assert rep["key_sha256"] == _sha(lab_keys(chip, 11)) and len(shapes) == rep["layers"]
    gates = rep["xor_per_inference"] + rep["mux_per_inference"]
    assert rep["periphery_energy_j_per_inference"] == pytest.approx(gates * E_GATE)
    assert rep["periphery_energy_share"] == pytest.approx(
        rep["periphery_energy_j_per_inference"] / rep["inference_energy_j_per_inference"])


@pytest.mark.parametrize("variant", ["swap", "invert"])
def test_variants(variant):
    chip = mlp_chip()
    out = encrypt(chip, {"variant": variant}, seed=2)
    x = torch.randn(5, 20, generator=gen(3))
    torch.testing.assert_close(out(x), chip(x), rtol=1e-5, atol=1e-6)
    for lyr, k in zip(out.layers, lab_keys(chip, 2, variant)):
        key = lyr.tile.layout.key
        assert (key.xor, key.mux) == (variant != "swap", variant != "invert")
        assert key.sha256 == _sha([k])
    rep = transform_reports(out, lambda m: 0.5)["encryption"]
    assert (rep["xor_per_inference"] == 0) == (variant == "swap")
    assert (rep["mux_per_inference"] == 0) == (variant == "invert")


def test_dfa_learns_through_the_key_as_on_the_plain_chip():
    chip = mlp_chip(sizes=(20, 16, 5))
    out = encrypt(chip, {}, seed=4)
    x = torch.randn(6, 20, generator=gen(6))
    y = torch.tensor([0, 1, 2, 3, 4, 0])
    for model in (chip, out):
        rule = make_rule("dfa", lr=0.05, seed=1)
        for _ in range(3):
            rule.step(model, x, y)
    for a, b in zip(chip.layers, out.layers):
        torch.testing.assert_close(b.tile.read_weight(), a.tile.read_weight(), rtol=1e-5,
                                   atol=1e-6)
        assert b.tile.layout.key is not None
    assert out.ledger.counts["xor_mux"] > 0 and chip.ledger.counts.get("xor_mux", 0) == 0


@pytest.mark.parametrize("order", ["mdm_first", "encrypt_first"])
def test_composes_with_mdm(order):
    cfg = hw.load("ideal", **{**SLICED, "array.rows": 8, "array.cols": 16})
    chip = mlp_chip(cfg)
    x = torch.rand(10, 20, generator=gen(8))
    out = encrypt(mdm(chip, {}, calib=x), {}, seed=1) if order == "mdm_first" else \
        mdm(encrypt(chip, {}, seed=1), {}, calib=x)
    t = out.layers[0].tile
    assert t.row_perm is not None and t.layout.key is not None
    torch.testing.assert_close(out(x), chip(x), rtol=1e-4, atol=1e-4)


def test_chip_state_round_trip_needs_the_same_chip(tmp_path):
    from snnx import checkpoint as ckpt

    chip = mlp_chip()
    out = encrypt(chip, {}, seed=5)
    rule = make_rule("dfa", lr=0.01, seed=0)
    rule.bind(out)
    path = ckpt.save(tmp_path / "c.h5", {"chip": pm.chip_state(out, rule)}) or tmp_path / "c.h5"
    state = ckpt.load(path)["chip"]
    again = encrypt(chip, {}, seed=5)                           # rebuilt: same PUF, same key
    pm.load_chip_state(again, rule, state)
    for a, b in zip(again.layers, out.layers):
        assert torch.equal(a.tile.conductances, b.tile.conductances)
    other = encrypt(chip, {}, seed=6)                           # another chip
    with pytest.raises(ConfigError, match="^key_sha256: "):
        pm.load_chip_state(other, rule, state)


def test_errors():
    with pytest.raises(ConfigError, match=r"^transforms\[0\]\.variant: 'both' is not one of"):
        TRANSFORMS.params("encrypt", {"variant": "both"}, "transforms[0]")
    with pytest.raises(ConfigError, match=r"^transforms\[0\]\.puf_bits: .*out of range"):
        TRANSFORMS.params("encrypt", {"puf_bits": 2}, "transforms[0]")
    with pytest.raises(ConfigError, match="^encrypt: the model has no layers on tiles"):
        encrypt(MLP([4, 3]), {})
    spec = type("Spec", (), {"name": "encrypt", "params": {"key": 1}})()
    with pytest.raises(ConfigError, match=r"^transforms\[0\]\.key: unknown key"):
        apply_transforms(mlp_chip(), [spec])
    assert LayerKey  # the kernels' key type is what the transform uses
