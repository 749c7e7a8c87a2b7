"""WindowDataset: validation, selection, splits, streams, bouts, normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from snnx.data import WindowDataset
from snnx.errors import ConfigError


def make(n=6, T=4, C=2, **kw):
    args = dict(X=np.arange(n * T * C, dtype=np.float64).reshape(n, T, C),
                y=np.arange(n) % 3, subject=np.array([1, 1, 1, 2, 2, 2][:n]),
                t=np.array([2.0, 0.0, 1.0, 5.0, 3.0, 4.0][:n]), classes=["a", "b", "c"],
                sample_rate_hz=10.0, name="toy")
    args.update(kw)
    return WindowDataset(**args)


def test_construction_casts_and_defaults():
    ds = WindowDataset(X=np.zeros((3, 5, 2)), y=[0, 1, 0], classes=("u", "v"),
                       sample_rate_hz=2)
    assert ds.X.dtype == np.float32 and ds.y.dtype == np.int64
    assert ds.subject.tolist() == [0, 0, 0] and ds.t.tolist() == [0.0, 1.0, 2.0]
    assert ds.channel_names == ("ch0", "ch1") and ds.classes == ("u", "v")
    assert (len(ds), ds.window_len, ds.n_channels, ds.n_classes) == (3, 5, 2, 2)


@pytest.mark.parametrize("kw, message", [
    ({"X": np.zeros((6, 4))}, "toy: X must have rank 3 (N, T, C), got shape (6, 4)"),
    ({"y": np.zeros(5, int)}, "toy: y has 5 rows but X has 6"),
    ({"subject": np.zeros(7, int)}, "toy: subject has 7 rows but X has 6"),
    ({"t": np.zeros((6, 1))}, "toy: t must have rank 1 (N,), got shape (6, 1)"),
    ({"y": np.array([0, 1, 2, 3, 0, 1])},
     "toy: y[3] = 3 is out of range of the 3 classes (labels must be 0..2)"),
    ({"y": np.array([0, -1, 2, 0, 0, 1])},
     "toy: y[1] = -1 is out of range of the 3 classes (labels must be 0..2)"),
    ({"y": np.array([0, 0.5, 1, 1, 1, 1])}, "toy: y must hold integers, got dtype float64"),
    ({"X": np.full((6, 4, 2), np.nan)},
     "toy: X has non-finite values (NaN or inf), first in window 0"),
    ({"t": np.array([0, 1, np.inf, 3, 4, 5])}, "toy: t has non-finite values (NaN or inf)"),
    ({"channel_names": ["x"]}, "toy: 1 channel names for 2 channels"),
    ({"classes": ["a", "a", "c"]}, "toy: class names must be unique, got ('a', 'a', 'c')"),
    ({"sample_rate_hz": 0.0}, "toy: sample_rate_hz must be a positive number, got 0.0"),
])
def test_invalid_arrays_are_rejected_with_a_clear_message(kw, message):
    with pytest.raises(ConfigError) as e:
        make(**kw)
    assert str(e.value) == message


def test_non_finite_reports_the_first_bad_window():
    X = np.zeros((6, 4, 2))
    X[4, 2, 1] = np.inf
    with pytest.raises(ConfigError, match="first in window 4"):
        make(X=X)


def test_subset_by_mask_and_index():
    ds = make()
    assert ds.subset(ds.y == 0).y.tolist() == [0, 0]
    picked = ds.subset([5, 0])
    np.testing.assert_array_equal(picked.X, ds.X[[5, 0]])
    assert picked.t.tolist() == [4.0, 2.0] and picked.classes == ds.classes
    with pytest.raises(ConfigError, match=r"toy: mask has shape \(2,\), expected \(6,\)"):
        ds.subset(np.array([True, False]))
    with pytest.raises(ConfigError, match="toy: the selection is empty"):
        ds.subset(np.zeros(6, bool))


def test_split_by_subject():
    src, tgt = make().split_by_subject([1], [2])
    assert set(src.subject.tolist()) == {1} and set(tgt.subject.tolist()) == {2}
    assert len(src) + len(tgt) == 6
    with pytest.raises(ConfigError, match=r"toy: subjects \[1\] are both source and target"):
        make().split_by_subject([1], [1, 2])
    with pytest.raises(ConfigError, match=r"toy: target subjects \[9\] not in the data "
                                          r"\(subjects: 1-2\)"):
        make().split_by_subject([1], [9])


def test_source_target_uses_meta():
    ds = make(meta={"source_subjects": [2], "target_subjects": [1]})
    src, tgt = ds.source_target()
    assert src.subjects.tolist() == [2] and tgt.subjects.tolist() == [1]
    with pytest.raises(ConfigError, match="no source/target split recorded"):
        make().source_target()


def test_stream_is_one_subject_in_arrival_order():
    s = make().stream(2)
    assert s.t.tolist() == [3.0, 4.0, 5.0]
    np.testing.assert_array_equal(s.X, make().X[[4, 5, 3]])
    with pytest.raises(ConfigError, match=r"stream subjects \[3\] not in the data"):
        make().stream(3)


def test_bouts_are_label_runs_per_subject():
    ds = make(y=np.array([0, 0, 1, 1, 1, 0]), t=np.arange(6.0),
              subject=np.array([1, 1, 1, 1, 2, 2]))
    assert ds.bouts().tolist() == [0, 0, 1, 1, 2, 3]


def test_train_test_split_is_seeded_stratified_and_disjoint(small_har):
    tr, te = small_har.train_test_split(0.25, seed=0)
    assert len(tr) + len(te) == len(small_har)
    assert abs(len(te) / len(small_har) - 0.25) < 0.02
    assert np.all(te.class_counts() > 0) and np.all(tr.class_counts() > 0)
    key = lambda d: set(zip(d.subject.tolist(), d.t.tolist()))
    assert not key(tr) & key(te)
    tr2, te2 = small_har.train_test_split(0.25, seed=0)
    np.testing.assert_array_equal(te.X, te2.X)
    assert not np.array_equal(te.t, small_har.train_test_split(0.25, seed=1)[1].t)


def test_split_by_bout_keeps_bouts_whole(small_har):
    bouts = small_har.bouts()
    _, te = small_har.train_test_split(0.3, seed=0, by="bout")
    test_keys = set(zip(te.subject.tolist(), te.t.tolist()))
    in_test = np.array([(s, t) in test_keys for s, t in
                        zip(small_har.subject.tolist(), small_har.t.tolist())])
    for b in np.unique(bouts):
        assert in_test[bouts == b].all() or not in_test[bouts == b].any()
    assert 0 < in_test.mean() < 0.6


@pytest.mark.parametrize("kw, message", [
    ({"test_frac": 1.0, "seed": 0}, "toy: test_frac must be in (0, 1), got 1.0"),
    ({"test_frac": 0.5, "seed": 0, "by": "subject"},
     "toy: by='subject' is not one of window, bout"),
])
def test_train_test_split_rejects_bad_arguments(kw, message):
    with pytest.raises(ConfigError) as e:
        make().train_test_split(**kw)
    assert str(e.value) == message


def test_standardized_with_own_stats_is_zero_mean_unit_sd(small_har):
    mean, std = small_har.channel_stats()
    assert mean.shape == std.shape == (9,)
    z = small_har.standardized(mean, std).X.reshape(-1, 9)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(z.std(axis=0), 1.0, atol=1e-3)
