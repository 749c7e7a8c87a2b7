"""A user's own HDF5 file (any channels, classes, window length) runs through `snnx adapt`;
and the data preparation rules of snnx.pipeline.data."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from pipeline_helpers import HAR_DFA, cli, report, sets
from snnx.errors import ConfigError
from snnx.pipeline.data import build_bouts, prepare, safe_scale, stream_order
from snnx.pipeline.recipe_files import load_recipe

QUIET = ("monitor.tensorboard=false", "monitor.figures=false")


def write_user_file(path, *, channels=5, window=40, classes=3, subjects=(7, 8, 9),
                    per_class=8, seed=0, meta=True) -> None:
    """Windows whose class is a channel-specific sine frequency; subjects differ in gain."""
    rng = np.random.default_rng(seed)
    X, y, s, t = [], [], [], []
    time_axis = np.arange(window) / 20.0
    for sid in subjects:
        gain = 1.0 + 0.3 * rng.standard_normal(channels)
        for k in range(classes):
            for i in range(per_class):
                phase = rng.uniform(0, 2 * np.pi, channels)
                w = np.sin(2 * np.pi * (1 + k) * time_axis[:, None] + phase) * gain
                X.append(w + 0.2 * rng.standard_normal((window, channels)))
                y.append(k)
                s.append(sid)
                t.append(k * per_class + i)
    with h5py.File(path, "w") as f:
        f["X"] = np.asarray(X, np.float32)
        f["y"] = np.asarray(y, np.int64)
        if subjects != (0,):
            f["subject"] = np.asarray(s, np.int64)
            f["t"] = np.asarray(t, np.float64)
        f.attrs["classes"] = [f"c{k}" for k in range(classes)]
        f.attrs["sample_rate_hz"] = 20.0
        if meta:
            f.attrs["meta"] = '{"source_subjects": [7, 8], "target_subjects": [9]}'


@pytest.mark.parametrize("model, layer0", [
    (("model.snn.timesteps=4",), [16, 50]),                 # 40 / 4 = 10 samples x 5 channels
    (("model.snn.timesteps=16",), [16, 15]),                # stretched to 48: 3 samples x 5
    (("model.kind=mlp",), [16, 200]),                   # the whole window flattened
])
def test_user_hdf5_runs_with_odd_shapes(model, layer0, tmp_path, capsys):
    data = tmp_path / "mine.h5"
    write_user_file(data)
    out = tmp_path / "run"
    code, text, err = cli(capsys, "adapt", "--recipe", HAR_DFA,
                          *sets("data.kind=hdf5", f"data.hdf5.path={data}", *QUIET, *model),
                          "--out", str(out))
    assert code == 0, err
    rep = report(out)
    assert rep["data"]["channels"] == 5 and rep["data"]["window"] == 40
    assert rep["data"]["classes"] == ["c0", "c1", "c2"]
    assert rep["data"]["source_subjects"] == [7, 8] and rep["data"]["target_subjects"] == [9]
    assert rep["model"]["layers"][0] == layer0 and rep["model"]["layers"][-1][0] == 3
    assert "adapted" in text


def test_file_without_meta_or_subjects(tmp_path):
    with_subjects = tmp_path / "a.h5"
    write_user_file(with_subjects, meta=False, subjects=(1, 2, 3, 4))
    r = load_recipe("har_dfa", ["data.kind=hdf5", f"data.hdf5.path={with_subjects}",
                                "data.target_subjects=1", "data.source_subjects=2"])
    p = prepare(r)
    assert p.info["target_subjects"] == [4] and p.info["source_subjects"] == [1, 2]
    one = tmp_path / "b.h5"
    write_user_file(one, meta=False, subjects=(0,), per_class=10)
    p = prepare(load_recipe("har_dfa", ["data.kind=hdf5", f"data.hdf5.path={one}"]))
    assert p.info["source_train"] > 0 and p.info["stream"] > 0 and p.info["target_test"] > 0


def test_scales_never_blow_a_channel_up():
    assert safe_scale(np.array([0.0, 0.002, 0.3, 0.5, 0.2])).tolist() == pytest.approx(
        [1.0, 0.025, 0.3, 0.5, 0.2])
    p = prepare(load_recipe("digits_dfa", ["data.standardize=true"]))
    assert np.isfinite(p.stream.X).all() and np.abs(p.stream.X).max() < 50


def test_build_bouts_makes_runs_of_one_class():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 200)
    order = build_bouts(y, np.random.default_rng(1))
    assert sorted(order.tolist()) == list(range(200))
    runs = 1 + np.count_nonzero(y[order][1:] != y[order][:-1])
    assert 200 / runs >= 3
    for k in range(4):  # arrival order kept within a class
        rows = order[y[order] == k]
        assert (np.diff(rows) > 0).all()


def test_stream_orders(tmp_path):
    p = prepare(load_recipe("har_dfa", ["data.synthetic_har.windows_per_activity=6",
                                        "data.source_subjects=1"]))
    s = p.stream
    assert (stream_order(s, "given", np.random.default_rng(0)) == np.arange(len(s))).all()
    assert (stream_order(s, "bouts", np.random.default_rng(0)) == np.arange(len(s))).all()
    shuffled = stream_order(s, "shuffled", np.random.default_rng(0))
    assert sorted(shuffled.tolist()) == list(range(len(s))) and (shuffled != np.arange(len(s))).any()
    assert (np.diff(s.t[s.subject == s.subject[0]]) > 0).all()  # arrival order


def test_bad_file_names_data_path(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"nope")
    with pytest.raises(ConfigError, match=r"^data\.hdf5\.path: .*not a readable HDF5"):
        prepare(load_recipe("har_dfa", ["data.kind=hdf5", f"data.hdf5.path={bad}"]))
