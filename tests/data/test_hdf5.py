"""The generic HDF5 layout: round trip, any shape, and every validation message."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from snnx.data import WindowDataset, load_hdf5, save_hdf5
from snnx.errors import ConfigError


def test_round_trip_keeps_everything(small_har, tmp_path):
    path = save_hdf5(small_har, tmp_path / "sub" / "har.h5")
    back = load_hdf5(path)
    for f in ("X", "y", "subject", "t"):
        np.testing.assert_array_equal(getattr(back, f), getattr(small_har, f))
    assert back.classes == small_har.classes
    assert back.channel_names == small_har.channel_names
    assert back.sample_rate_hz == 50.0
    assert back.meta["source_subjects"] == [1, 2, 3] and back.name == str(path)
    assert [p.name for p in path.parent.iterdir()] == ["har.h5"]  # no temporary left


def test_any_shape_and_class_count(tmp_path):
    rng = np.random.default_rng(0)
    ds = WindowDataset(X=rng.normal(size=(7, 5, 3)), y=rng.integers(0, 4, 7),
                       classes=["w", "x", "y", "z"], sample_rate_hz=100.0)
    back = load_hdf5(save_hdf5(ds, tmp_path / "a.h5", compression=None))
    assert back.X.shape == (7, 5, 3) and back.n_classes == 4
    np.testing.assert_array_equal(back.X, ds.X)


def write(path, *, X=None, y=None, attrs=None, **extra):
    """A hand-made file: valid defaults unless overridden; pass X=False to omit /X."""
    X = np.zeros((4, 3, 2), np.float32) if X is None else X
    y = np.array([0, 1, 1, 0]) if y is None else y
    attrs = {"classes": ["a", "b"], "sample_rate_hz": 20.0} if attrs is None else attrs
    with h5py.File(path, "w") as f:
        if X is not False:
            f["X"] = X
        if y is not False:
            f["y"] = y
        for k, v in extra.items():
            f[k] = v
        for k, v in attrs.items():
            f.attrs[k] = v
    return path


def test_a_hand_made_file_loads_with_defaults(tmp_path):
    ds = load_hdf5(write(tmp_path / "ok.h5", y=np.array([0.0, 1.0, 1.0, 0.0])))
    assert ds.y.dtype == np.int64 and ds.subject.tolist() == [0] * 4
    assert ds.t.tolist() == [0, 1, 2, 3] and ds.channel_names == ("ch0", "ch1")


@pytest.mark.parametrize("kw, message", [
    ({"X": False}, "missing dataset /X (float32 (N, T, C) windows)"),
    ({"y": False}, "missing dataset /y (int64 (N,) labels)"),
    ({"X": np.zeros((4, 6), np.float32)}, "/X must have rank 3 (N, T, C), got shape (4, 6)"),
    ({"y": np.array([0, 1, 1])}, "/y has 3 rows but /X has 4"),
    ({"subject": np.array([1, 2])}, "/subject has 2 rows but /X has 4"),
    ({"t": np.arange(5.0)}, "/t has 5 rows but /X has 4"),
    ({"y": np.array([0, 1, 2, 0])},
     "/y[2] = 2 is out of range of the 2 classes (labels must be 0..1)"),
    ({"y": np.array([0.0, 1.5, 1.0, 0.0])},
     "/y must hold integers, got dtype float64 with non-integral values"),
    ({"X": np.full((4, 3, 2), np.nan, np.float32)},
     "/X has non-finite values (NaN or inf), first in window 0"),
    ({"X": np.array([[[b"a"]]])}, "/X must hold real numbers, got dtype |S1"),
    ({"attrs": {"sample_rate_hz": 20.0}}, "missing attribute 'classes' (list of names)"),
    ({"attrs": {"classes": ["a", "b"]}},
     "missing attribute 'sample_rate_hz' (Hz along T)"),
    ({"attrs": {"classes": ["a", "b"], "sample_rate_hz": -1.0}},
     "attribute 'sample_rate_hz' must be > 0, got -1.0"),
    ({"attrs": {"classes": ["a", "b"], "sample_rate_hz": 1.0, "channel_names": ["c"]}},
     "attribute 'channel_names' has 1 names but /X has 2 channels"),
    ({"attrs": {"classes": ["a", "b"], "sample_rate_hz": 1.0, "meta": "{oops"}},
     "attribute 'meta' is not valid JSON"),
])
def test_each_problem_has_a_message_that_starts_with_the_path(tmp_path, kw, message):
    path = write(tmp_path / "bad.h5", **kw)
    with pytest.raises(ConfigError) as e:
        load_hdf5(path)
    assert str(e.value).startswith(f"{path}: {message}")


def test_missing_and_non_hdf5_files(tmp_path):
    with pytest.raises(ConfigError, match="nope.h5: no such file"):
        load_hdf5(tmp_path / "nope.h5")
    bad = tmp_path / "text.h5"
    bad.write_text("not hdf5")
    with pytest.raises(ConfigError) as e:
        load_hdf5(bad)
    assert str(e.value).startswith(f"{bad}: not a readable HDF5 file")
    assert isinstance(e.value, ValueError)
