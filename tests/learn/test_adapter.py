"""OnlineAdapter: streaming verbs, rejection of bad samples, state round trip, learning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import snnx.hw as hw
from snnx.errors import ShapeError
from snnx.learn import DFA, AdapterStateError, OnlineAdapter
from snnx.nn import MLP, SNN

W, HOP, C = 16, 8, 3


def make_net(hw_name="rram_generic", seed=0):
    return SNN(channels=C, window=W, hidden=(16,), classes=2, steps=4, seed=seed).to_analog(
        hw.load(hw_name), seed=seed)


@pytest.fixture
def adapter():
    return OnlineAdapter(make_net(), "dfa", window=W, hop=HOP, channels=C, lr=0.05)


def toy_stream(seed: int, n_windows: int):
    """Two classes separable by their mean (±0.8, σ 0.5), in bouts of 5 hops."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for w in range(n_windows):
        if w % 5 == 0:
            cls = int(rng.integers(0, 2))
        xs.append(rng.normal(0.8 * (2 * cls - 1), 0.5, (HOP, C)))
        ys += [cls] * HOP
    return np.concatenate(xs).tolist(), np.array(ys)


def test_predictions_every_hop_once_the_window_fills(adapter):
    rng = np.random.default_rng(0)
    out = [adapter.step(rng.normal(size=C).tolist()) for _ in range(W + 3 * HOP)]
    idx = [i for i, p in enumerate(out) if p is not None]
    assert idx == [W - 1, W - 1 + HOP, W - 1 + 2 * HOP, W - 1 + 3 * HOP]
    assert all(isinstance(out[i], int) and 0 <= out[i] < 2 for i in idx)
    assert adapter.windows_seen == 4 and adapter.samples_seen == W + 3 * HOP
    assert adapter.step(np.zeros(C)) is None  # numpy input works too


def _snapshot(ad):
    return (ad._buf.copy(), ad._pos, ad.samples_seen, ad.windows_seen,
            [l.tile.conductances.clone() for l in ad.model.layers])


def _same(a, b):
    assert np.array_equal(a[0], b[0]) and a[1:4] == b[1:4]
    assert all(torch.equal(x, y) for x, y in zip(a[4], b[4]))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_sample_is_rejected_without_touching_state(adapter, bad):
    for i in range(W + 2):
        adapter.step([0.1 * i, 0.0, 0.0])
    adapter.learn(1)
    before = _snapshot(adapter)
    with pytest.raises(ValueError, match=r"sample: contains NaN or inf at channel\(s\) \[1\]; "
                                         "sample rejected, state unchanged"):
        adapter.step([0.0, bad, 0.0])
    _same(before, _snapshot(adapter))


@pytest.mark.parametrize("bad,msg", [
    ([0.0, 1.0], r"expected 3 values \(shape \(3,\)\), got shape \(2,\)"),
    ([[0.0, 1.0, 2.0]], r"expected 3 values \(shape \(3,\)\), got shape \(1, 3\)"),
    (["a", "b", "c"], r"sample: expected 3 numbers, got list"),
    (None, r"sample: expected 3 values \(shape \(3,\)\), got shape \(\)"),
])
def test_wrong_sample_shape_is_a_clear_error(adapter, bad, msg):
    adapter.step([1.0, 2.0, 3.0])
    before = _snapshot(adapter)
    with pytest.raises(ShapeError, match=msg):
        adapter.step(bad)
    _same(before, _snapshot(adapter))


def test_learn_before_any_window_and_bad_labels(adapter):
    adapter.step([0.0] * C)
    with pytest.raises(AdapterStateError, match=r"learn: no complete window yet \(1 of 16 "
                                                r"samples since reset\)"):
        adapter.learn(0)
    for _ in range(W):
        adapter.step([0.0] * C)
    with pytest.raises(ValueError, match=r"label: must be in \[0, 2\), got 2"):
        adapter.learn(2)
    with pytest.raises(ValueError, match="label: expected an integer class, got 0.5"):
        adapter.learn(0.5)
    assert adapter.learn(np.int64(1)) is None and adapter.learn_steps == 1
    assert adapter.learn(1) is None and adapter.learn_steps == 2  # late/repeated labels ok
    adapter.reset()
    assert adapter.samples_seen == 0 and not adapter._buf.any()
    with pytest.raises(AdapterStateError):
        adapter.learn(0)


def test_state_dict_round_trip_reproduces_the_next_predictions():
    xs, ys = toy_stream(3, 12)
    a = OnlineAdapter(make_net(seed=1), DFA(lr=0.05, seed=2), window=W, hop=HOP, channels=C)
    for i, s in enumerate(xs[:50]):
        if a.step(s) is not None:
            a.learn(int(ys[i]))
    state = a.state_dict()

    def run(ad):
        out = []
        for i, s in enumerate(xs[50:], start=50):
            p = ad.step(s)
            if p is not None:
                out.append((p, ad._last_rec.logits.clone()))
                ad.learn(int(ys[i]))
        return out

    ref = run(a)
    b = OnlineAdapter(make_net(seed=7), DFA(lr=0.05, seed=9), window=W, hop=HOP, channels=C)
    b.load_state_dict(state)
    got = run(b)
    assert len(ref) == len(got) >= 5
    for (p1, l1), (p2, l2) in zip(ref, got):
        assert p1 == p2
        torch.testing.assert_close(l1, l2, rtol=0, atol=0)
    for la, lb in zip(a.model.layers, b.model.layers):
        assert torch.equal(la.tile.conductances, lb.tile.conductances)
    with pytest.raises(ValueError, match="state: adapter config"):
        OnlineAdapter(make_net(), "bp", window=W, hop=HOP, channels=C).load_state_dict(state)


def _accuracy(net, seed):
    rng = np.random.default_rng(100 + seed)
    y = rng.integers(0, 2, 60)
    X = rng.normal(0.8 * (2 * y - 1)[:, None, None], 0.5, (60, W, C))
    logits = net.record(torch.tensor(X, dtype=torch.float32)).logits
    return float((logits.argmax(1).numpy() == y).mean())


@pytest.mark.parametrize("rule", ["dfa", "bp", "logsgd"])
def test_learn_improves_accuracy_on_a_toy_stream(rule):
    net = make_net(seed=0)
    before = _accuracy(net, 0)
    ad = OnlineAdapter(net, rule, window=W, hop=HOP, channels=C, lr=0.05)
    xs, ys = toy_stream(0, 60)
    for i, s in enumerate(xs):
        if ad.step(s) is not None and i % 16 != 7:  # labels for only some windows
            ad.learn(int(round(ys[i - W + 1:i + 1].mean())))
    after = _accuracy(net, 0)
    assert before < 0.6 and after >= 0.9, (before, after)


def test_mlp_model_gets_flattened_windows():
    net = MLP([W * C, 8, 2]).to_analog(hw.load("ideal"))
    ad = OnlineAdapter(net, "bp", window=W, hop=HOP, channels=C, lr=0.1)
    preds = [ad.step([0.5, -0.5, 0.1]) for _ in range(W)]
    assert preds[-1] in (0, 1)
    ad.learn(0)
    with pytest.raises(ValueError, match="model has 48 inputs, a flattened window has 40"):
        OnlineAdapter(net, "bp", window=20, hop=HOP, channels=2)
    with pytest.raises(ValueError, match="rule: 'sgd' is not one of bp, dfa, logsgd"):
        OnlineAdapter(net, "sgd", window=W, hop=HOP, channels=C)
