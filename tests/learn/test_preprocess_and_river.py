"""Preprocessing inside the adapter (raw samples) and the adapter in river's convention."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import snnx.hw as hw
from snnx.errors import ConfigError
from snnx.learn import OnlineAdapter, Preprocessing
from snnx.learn.preprocess import box_weights
from snnx.nn import SNN
from snnx.pipeline.data import _stretch
from snnx.data.dataset import WindowDataset


def _pre(**kw) -> Preprocessing:
    base = dict(channels=("a", "b", "c"), mean=[1.0, -2.0, 0.5], std=[2.0, 0.5, 1.5], window=16,
                hop=8, sample_rate_hz=50.0, classes=("x", "y"))
    return Preprocessing(**{**base, **kw})


def test_preprocessing_is_the_runs_arithmetic():
    rng = np.random.default_rng(0)
    X = rng.normal(3, 2, (5, 12, 3)).astype(np.float32)
    ds = WindowDataset(X=X, y=np.zeros(5, np.int64), subject=np.zeros(5, np.int64),
                       classes=("x", "y"), sample_rate_hz=50.0)
    p = _pre(window=12, model_window=16)
    want = _stretch(ds, 16).standardized(p.mean, p.std).X  # what a run does
    assert np.array_equal(p(X), want)
    assert np.array_equal(p(X[0]), want[0])
    flat = dataclasses.replace(p, flatten=True)
    assert flat(X).shape == (5, 48)


def test_area_resampling_at_the_runs_rate_is_the_runs_arithmetic():
    """Same rate: area and nearest are both the run's own stretch, bit for bit."""
    X = np.random.default_rng(3).normal(0, 1, (4, 12, 3)).astype(np.float32)
    for mw in (12, 16):
        p = _pre(window=12, model_window=mw)
        assert np.array_equal(p.at_rate(None, "area")(X), p(X))
        assert np.array_equal(p.at_rate(50.0, "area")(X), p(X))


def test_area_weights_against_an_independent_integration():
    """Each output sample is the mean of the input over its time span: checked against a
    fine nearest-sample upsampling averaged in blocks (exact for these rational ratios)."""
    rng = np.random.default_rng(4)
    for n_in, n_out in ((32, 16), (16, 32), (30, 16), (16, 30), (7, 5)):
        x = rng.normal(0, 1, n_in)
        fine = np.repeat(x, n_out)  # n_in * n_out samples, each output spans n_in of them
        want = fine.reshape(n_out, n_in).mean(1)
        W = box_weights(n_in, n_out)
        np.testing.assert_allclose(W.sum(1), 1.0, rtol=1e-6)
        np.testing.assert_allclose(W @ x, want, rtol=1e-5, atol=1e-6)


def test_area_resampling_attenuates_a_tone_above_the_models_nyquist_rate():
    """100 Hz source, 50 Hz run: a 40 Hz tone folds to 10 Hz at full amplitude by nearest
    sample; averaging pairs keeps |cos(pi 40 / 100)| of it (the box filter's response)."""
    p = _pre(window=64, hop=32, mean=[0.0] * 3, std=[1.0] * 3).at_rate(100.0)
    t = np.arange(128) / 100.0
    tone = np.repeat(np.cos(2 * np.pi * 40.0 * t + 0.3)[:, None], 3, axis=1)
    near = p(tone)[:, 0]
    area = p.at_rate(100.0, "area")(tone)[:, 0]

    def amp(y):  # amplitude of the 10 Hz alias at 50 Hz
        ts = np.arange(64) / 50.0
        basis = np.stack([np.cos(2 * np.pi * 10 * ts), np.sin(2 * np.pi * 10 * ts)], 1)
        return float(np.hypot(*np.linalg.lstsq(basis, y, rcond=None)[0]))

    assert amp(near) == pytest.approx(1.0, rel=1e-4)
    assert amp(area) == pytest.approx(abs(np.cos(np.pi * 40 / 100)), rel=1e-4)


def test_unknown_resample_mode_is_a_config_error():
    with pytest.raises(ConfigError, match="resample: 'cubic' is not one of nearest, area"):
        _pre().at_rate(100.0, "cubic")


def _net():
    return SNN(channels=3, window=16, hidden=(8,), classes=2, steps=4, seed=1).to_analog(
        hw.load("ideal"), seed=1)


def test_adapter_takes_raw_samples_through_preprocessing():
    p = _pre()
    raw = np.random.default_rng(1).normal(5, 3, (16, 3))
    a = OnlineAdapter(_net(), "dfa", preprocess=p)
    b = OnlineAdapter(_net(), "dfa", window=16, hop=8, channels=3)
    assert (a.window, a.hop, a.channels) == (16, 8, 3)
    pa = [a.step(s) for s in raw][-1]
    pb = [b.step(s) for s in p(raw)][-1]   # the same window, scaled by hand
    assert pa == pb
    assert torch.equal(a._last_x, b._last_x)


def _stream(n=400, seed=2):
    rng = np.random.default_rng(seed)
    y = (np.arange(n) // 48) % 2
    x = rng.normal(0, 1, (n, 3)) + 2.0 * y[:, None]
    return [({"a": r[0], "b": r[1], "c": r[2]}, int(c)) for r, c in zip(x, y)]


def test_river_progressive_val_score_is_the_adapters_prequential_loop():
    river = pytest.importorskip("river")
    from river import evaluate, metrics

    from snnx.learn import river_classifier

    model = river_classifier(OnlineAdapter(_net(), "dfa", lr=0.05, preprocess=_pre()))
    acc = evaluate.progressive_val_score(_stream(), model, metrics.Accuracy())
    assert isinstance(acc, metrics.Accuracy)
    # the same loop by hand on a twin adapter: predict every sample, learn when a window ends
    twin = OnlineAdapter(_net(), "dfa", lr=0.05, preprocess=_pre())
    pred, hits, seen = None, 0, 0
    for x, y in _stream():
        p = twin.step([x["a"], x["b"], x["c"]])
        if p is not None:
            pred = p
        if pred is not None:
            hits, seen = hits + (pred == y), seen + 1
        if p is not None:
            twin.learn(y)
    assert seen == 400 - 15 and twin.learn_steps == (400 - 16) // 8 + 1
    assert acc.get() == pytest.approx(hits / seen, abs=0)
    assert model.adapter.learn_steps == twin.learn_steps
    for la, lb in zip(model.adapter.model.layers, twin.model.layers):
        assert torch.equal(la.tile.conductances, lb.tile.conductances)
    assert river.__version__


def test_river_names_and_proba():
    pytest.importorskip("river")
    from snnx.learn import river_classifier

    model = river_classifier(OnlineAdapter(_net(), "dfa", preprocess=_pre()), names=True)
    out = [model.predict_one(x) for x, _ in _stream(20)]
    assert out[:15] == [None] * 15 and out[15] in ("x", "y")
    proba = model.predict_proba_one(_stream(1)[0][0])
    assert set(proba) == {"x", "y"} and sum(proba.values()) == pytest.approx(1.0)
    model.learn_one(_stream(1)[0][0], "y")  # not a window end: nothing learnt
    assert model.adapter.learn_steps == 0
