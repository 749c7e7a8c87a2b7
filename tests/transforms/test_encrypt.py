"""Encrypted BNN (snnx.transforms.encrypt): bit-exact keyed inference against an integer
reference, the key transform against an explicit loop, variants and op counts, PUF/PRF
determinism, no key bits in anything public, and the flip attack."""

from __future__ import annotations

import doctest
import io
import pickle
import re

import numpy as np
import pytest
import torch

import snnx.transforms.encrypt as enc_mod
from snnx.errors import ConfigError, ShapeError
from snnx.transforms.encrypt import (KeyedPeriphery, LayerKey, SimulatedPUF, bnn_forward,
                                     derive_keys, encrypt_layer, keyed_forward,
                                     periphery_ops)
from snnx.transforms.encrypt_attack import flip_attack


def gen(seed):
    return torch.Generator().manual_seed(seed)


def pm1(shape, g):
    return torch.randint(0, 2, shape, generator=g).float() * 2 - 1


def random_net(sizes, seed=0, spread=3):
    g = gen(seed)
    return [(pm1((m, n), g), torch.randint(-spread, spread + 1, (n,), generator=g).float())
            for m, n in zip(sizes[:-1], sizes[1:])]


def reference(x, layers):
    """Independent integer BNN: int64 sums, comparator >= 0 -> +1."""
    x = x.long()
    for i, (W, B) in enumerate(layers):
        s = x @ W.long() - B.long()
        x = torch.where(s >= 0, 1, -1) if i < len(layers) - 1 else s
    return x


def shapes_of(layers):
    return [tuple(W.shape) for W, _ in layers]


def test_doctest():
    assert doctest.testmod(enc_mod).failed == 0


@pytest.mark.parametrize("m,n", [(7, 6), (16, 9), (33, 1), (64, 40)])
@pytest.mark.parametrize("last", [False, True])
def test_keyed_layer_bit_exact_random(m, n, last):
    g = gen(m * 100 + n)
    W, B = pm1((m, n), g), torch.randint(-4, 5, (n,), generator=g).float()
    layers = [(W, B)] if last else [(W, B), (pm1((n, 3), g), torch.zeros(3))]
    key = LayerKey(torch.rand(m, generator=g) < 0.5, torch.rand(n // 2, generator=g) < 0.5)
    keys = [key] + ([] if last else [LayerKey(torch.zeros(n, dtype=torch.bool),
                                             torch.zeros(1, dtype=torch.bool))])
    stored = [encrypt_layer(W_, B_, k) for (W_, B_), k in zip(layers, keys)]
    x = pm1((50, m), g)
    out = keyed_forward(x, stored, keys)
    assert torch.equal(out.long(), reference(x, layers))
    if key.r.any() or key.c.any():
        assert not torch.equal(stored[0][0], W)


def test_encrypt_layer_matches_explicit_loops():
    g = gen(1)
    m, n = 5, 7                                           # odd n: column 6 has no partner
    W, B = pm1((m, n), g), torch.arange(n).float()
    r = torch.tensor([1, 0, 1, 1, 0], dtype=torch.bool)
    c = torch.tensor([1, 0, 1], dtype=torch.bool)
    Wp, Bp = encrypt_layer(W, B, LayerKey(r, c))
    ref_W, ref_B = W.clone(), B.clone()
    for j in range(m):
        if r[j]:
            ref_W[j] = -ref_W[j]                          # swap the two cells of each pair
    for k in range(n // 2):
        if c[k]:
            ref_W[:, [2 * k, 2 * k + 1]] = ref_W[:, [2 * k + 1, 2 * k]]
            ref_B[[2 * k, 2 * k + 1]] = ref_B[[2 * k + 1, 2 * k]]
    assert torch.equal(Wp, ref_W) and torch.equal(Bp, ref_B)
    assert Bp.tolist() == [1, 0, 2, 3, 5, 4, 6]
    assert torch.equal(Wp[:, 6], W[:, 6] * (1 - 2 * r.float()))   # last column: rows only


def test_whole_network_periphery_bit_exact_and_scrambled():
    layers = random_net([64, 128, 96, 10], seed=2)
    per = KeyedPeriphery(SimulatedPUF(generator=gen(5)), shapes_of(layers))
    stored = per.encrypt(layers)
    x = pm1((200, 64), gen(3))
    plain = reference(x, layers)
    assert torch.equal(per(x, stored).long(), plain)
    assert torch.equal(bnn_forward(x, layers).long(), plain)
    no_key = bnn_forward(x, stored).long()
    assert (no_key.argmax(1) == plain.argmax(1)).float().mean() < 0.5
    for (W, _), (Wp, _) in zip(layers, stored):
        assert 0.3 < float((W != Wp).float().mean()) < 0.7


@pytest.mark.parametrize("variant", ["swap", "invert"])
def test_variants_and_op_counts(variant):
    layers = random_net([20, 30, 11], seed=4)
    per = KeyedPeriphery(SimulatedPUF(generator=gen(6)), shapes_of(layers), variant)
    stored = per.encrypt(layers)
    x = pm1((40, 20), gen(7))
    assert torch.equal(per(x, stored).long(), reference(x, layers))
    for (W, B), (Wp, Bp) in zip(layers, stored):
        if variant == "swap":                  # rows intact up to a column permutation
            assert torch.equal(W.sum(1), Wp.sum(1)) and not torch.equal(W, Wp)
        else:                                  # columns in place: B unchanged
            assert torch.equal(B, Bp) and torch.equal(W.abs(), Wp.abs())
    ops = per.ops(batch=3)
    full = periphery_ops([(20, 30), (30, 11)], "full")
    assert full == {"xor": 50, "mux": 40, "mvm_macs": 930}
    assert ops["mvm_macs"] == 3 * 930
    assert (ops["xor"], ops["mux"]) == ((0, 120) if variant == "swap" else (150, 0))


def test_puf_prf_deterministic_and_distinct():
    shapes = [(64, 512), (512, 10)]
    a = derive_keys(SimulatedPUF(generator=gen(1)).response(), shapes)
    b = derive_keys(SimulatedPUF(generator=gen(1)).response(), shapes)
    c = derive_keys(SimulatedPUF(generator=gen(2)).response(), shapes)
    assert all(torch.equal(x.r, y.r) and torch.equal(x.c, y.c) for x, y in zip(a, b))
    assert not torch.equal(a[0].r, c[0].r)
    assert a[0].r.shape == (64,) and a[0].c.shape == (256,) and a[1].c.shape == (5,)
    bits = torch.cat([a[0].r, a[0].c, a[1].r]).float()
    assert 0.42 < float(bits.mean()) < 0.58
    assert not torch.equal(a[0].r, a[1].r[:64])                    # layers get own keys
    # PUF responses come from the cell-pair comparison of the sampled conductances
    puf = SimulatedPUF(16, generator=gen(3))
    g = puf._g
    expect = np.packbits((g[0::2] > g[1::2]).numpy().astype(np.uint8)).tobytes()
    assert puf.response() == expect


def _bit_stream(text: str) -> str:
    """The 0/1 sequence a text spells with True/False/0/1 tokens (any layout)."""
    return "".join("1" if t in ("True", "1") else "0"
                   for t in re.findall(r"True|False|[01]", text))


def test_key_bits_not_in_anything_public():
    layers = random_net([64, 96, 10], seed=8)
    shapes = shapes_of(layers)
    puf = SimulatedPUF(generator=gen(9))
    per = KeyedPeriphery(puf, shapes)
    keys = derive_keys(puf.response(), shapes)        # the lab derives them for the check
    runs = [bits[:40] for k in keys for bits in (k.r, k.c) if len(bits) >= 40]
    assert len(runs) == 3
    strings = ["".join("1" if b else "0" for b in run.tolist()) for run in runs]
    raw = [run.to(torch.uint8).numpy().tobytes() for run in runs] + \
        [np.packbits(run.numpy().astype(np.uint8)).tobytes() for run in runs] + \
        [puf.response()] + [s.encode() for s in strings]
    buf = io.BytesIO()
    torch.save(per.state_dict(), buf)
    texts = [repr(per), str(per), repr(per.state_dict()), str(per.state_dict()), repr(puf),
             repr(keys), str(keys[0])]
    blobs = [buf.getvalue(), pickle.dumps(per.state_dict())]
    for s in strings:
        assert not any(s in _bit_stream(t) for t in texts)
    for pat in raw:
        assert not any(pat in b for b in blobs)
    assert per.key_sha256 in repr(per.state_dict())
    assert all(isinstance(v, (str, list, SimulatedPUF)) for v in per.__dict__.values())
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(puf)


def test_checkpoint_checks_the_chip():
    shapes = [(8, 6), (6, 4)]
    state = KeyedPeriphery(SimulatedPUF(generator=gen(1)), shapes).state_dict()
    KeyedPeriphery(SimulatedPUF(generator=gen(1)), shapes).load_state_dict(state)
    with pytest.raises(ConfigError, match="^key_sha256"):
        KeyedPeriphery(SimulatedPUF(generator=gen(2)), shapes).load_state_dict(state)


def test_flip_attack_single_layer_recovers_swaps():
    """One output layer, swap-only key, labels = the plain net's decisions: every pair whose
    classes occur is found, and the returned guess reproduces the reported accuracy."""
    layers = random_net([32, 10], seed=10, spread=0)
    shapes = shapes_of(layers)
    per = KeyedPeriphery(SimulatedPUF(generator=gen(11)), shapes, "swap")
    stored = per.encrypt(layers)
    x = pm1((400, 32), gen(12))
    y = bnn_forward(x, layers).argmax(1)
    assert len(torch.unique(y)) == 10
    res = flip_attack(stored, x, y, generator=gen(13), parts="c", sweeps=2)
    assert res.start_accuracy < 0.9 and res.accuracy == 1.0
    assert per.key_agreement(res.keys) == 1.0
    got = float((keyed_forward(x, stored, res.keys).argmax(1) == y).float().mean())
    assert got == res.accuracy and res.evaluations == 10


def test_flip_attack_never_lowers_accuracy_and_keeps_true_key():
    layers = random_net([24, 40, 6], seed=14, spread=1)
    shapes = shapes_of(layers)
    puf = SimulatedPUF(generator=gen(15))
    per = KeyedPeriphery(puf, shapes)
    stored = per.encrypt(layers)
    x = pm1((120, 24), gen(16))
    y = bnn_forward(x, layers).argmax(1)
    for metric in ("accuracy", "margin"):
        res = flip_attack(stored, x, y, generator=gen(17), metric=metric)
        assert res.accuracy >= res.start_accuracy
        assert res.evaluations == 24 + 20 + 40 + 3
    true = derive_keys(puf.response(), shapes)
    res = flip_attack(stored, x, y, generator=gen(17), init=true)
    assert res.start_accuracy == res.accuracy == 1.0 and res.accepted == 0


def test_errors():
    W, B = random_net([4, 4])[0]
    with pytest.raises(ShapeError, match=r"^layers\[0\]"):
        bnn_forward(torch.ones(1, 4), [(W * 0.5, B)])
    with pytest.raises(ShapeError, match=r"^layers\[0\]"):
        bnn_forward(torch.ones(1, 4), [(W, B + 0.5)])
    with pytest.raises(ShapeError, match=r"^layers\[1\]"):
        bnn_forward(torch.ones(1, 4), [(W, B), (W[:3], B)])
    with pytest.raises(ConfigError, match="^variant"):
        derive_keys(b"x", [(4, 4)], "both")
    for kw, name in (({"sweeps": 0}, "sweeps"), ({"parts": "x"}, "parts"),
                     ({"metric": "loss"}, "metric")):
        with pytest.raises(ConfigError, match=f"^{name}"):
            flip_attack([(W, B)], torch.ones(2, 4), torch.zeros(2, dtype=torch.long),
                        generator=gen(0), **kw)
    with pytest.raises(ConfigError, match="^n_bits"):
        SimulatedPUF(0, generator=gen(0))
