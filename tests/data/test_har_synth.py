"""The synthetic HAR generator: layout, physics, determinism, subject shift, bouts, speed."""

from __future__ import annotations


import numpy as np
import pytest

from snnx.data import HAR_CHANNELS, HAR_CLASSES, HarSynthConfig, ShiftRanges, synthetic_har
from snnx.errors import ConfigError

WALK, UP, DOWN, SIT, STAND, LAY = range(6)


def test_shapes_dtypes_and_channel_order(small_har):
    ds = small_har
    assert ds.X.shape == (5 * 6 * 12, 128, 9)
    assert (ds.X.dtype, ds.y.dtype, ds.subject.dtype, ds.t.dtype) == (
        np.float32, np.int64, np.int64, np.float64)
    assert ds.channel_names == HAR_CHANNELS
    assert ds.channel_names[:3] == ("body_acc_x", "body_acc_y", "body_acc_z")
    assert ds.channel_names[3:6] == ("body_gyro_x", "body_gyro_y", "body_gyro_z")
    assert ds.classes == HAR_CLASSES and ds.sample_rate_hz == 50.0
    assert ds.class_counts().tolist() == [5 * 12] * 6
    assert ds.subjects.tolist() == [1, 2, 3, 4, 5]
    assert ds.meta["source_subjects"] == [1, 2, 3] and ds.meta["target_subjects"] == [4, 5]


def test_channels_follow_the_physics(small_har):
    """total_acc - body_acc is gravity (about 1 g); gyro and body acc move only in gait."""
    src, _ = small_har.source_target()
    X, y = src.X, src.y
    grav = np.linalg.norm(X[..., 6:9] - X[..., 0:3], axis=2)
    assert 0.8 < grav.mean() < 1.2 and grav.std() < 0.15
    body_sd = X[..., 0:3].std(axis=1).mean(axis=1)
    gyro_sd = X[..., 3:6].std(axis=1).mean(axis=1)
    dynamic, static = y <= DOWN, y >= SIT
    assert body_sd[dynamic].min() > 4 * body_sd[static].max()
    assert 0.01 < body_sd[static].mean() < 0.04          # sensor noise level, g
    assert 0.2 < gyro_sd[dynamic].mean() < 1.5           # rad/s
    # gravity direction: laying far from standing, sitting only a few degrees away
    def direction(k):
        g = X[y == k][..., 6:9].mean(axis=(0, 1))
        return g / np.linalg.norm(g)
    angle = lambda a, b: np.degrees(np.arccos(np.clip(direction(a) @ direction(b), -1, 1)))
    assert angle(LAY, STAND) > 60
    assert 3 < angle(SIT, STAND) < 20


def test_gait_cadence_in_range(small_har):
    """The dominant body-acc frequency of walking is the cadence (1.3-2.5 Hz); downstairs
    is faster than upstairs."""
    X, y = small_har.X, small_har.y
    spec = np.abs(np.fft.rfft(X[..., 0:3], axis=1)) ** 2       # (N, 65, 3)
    freqs = np.fft.rfftfreq(128, d=1 / 50.0)
    peak = freqs[spec.sum(axis=2)[:, 1:].argmax(axis=1) + 1]
    for k in (WALK, UP, DOWN):
        assert 1.2 < np.median(peak[y == k]) < 2.6
    assert np.median(peak[y == DOWN]) > np.median(peak[y == UP])


def test_windows_overlap_by_half_within_a_bout(small_har):
    s = small_har.stream(1)
    same_bout = np.isclose(np.diff(s.t), 64 / 50.0)
    assert same_bout.sum() > len(s) // 2
    k = np.flatnonzero(same_bout)
    np.testing.assert_array_equal(s.X[k, 64:], s.X[k + 1, :64])
    # across a bout boundary the recordings are separate
    b = np.flatnonzero(~same_bout)
    assert b.size > 0 and not np.allclose(s.X[b, 64:], s.X[b + 1, :64])


def test_same_seed_same_data_other_seed_other_data():
    a = synthetic_har(seed=7, n_source=2, n_target=1, windows_per_activity=5)
    b = synthetic_har(seed=7, n_source=2, n_target=1, windows_per_activity=5)
    c = synthetic_har(seed=8, n_source=2, n_target=1, windows_per_activity=5)
    for f in ("X", "y", "subject", "t"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    assert not np.array_equal(a.X, c.X) and a.X.shape == c.X.shape


def test_source_subjects_do_not_depend_on_target_count():
    one = synthetic_har(seed=3, n_source=2, n_target=1, windows_per_activity=5)
    two = synthetic_har(seed=3, n_source=2, n_target=2, windows_per_activity=5)
    np.testing.assert_array_equal(one.source_target()[0].X, two.source_target()[0].X)


def test_target_subjects_are_shifted_more_than_source_subjects():
    """Distance of a subject's per-activity feature centroids (per-channel mean and sd of a
    window, standardised on the source) from the other source subjects' centroids."""
    ds = synthetic_har(seed=0)
    feats = np.concatenate([ds.X.mean(axis=1), ds.X.std(axis=1)], axis=1)     # (N, 18)
    src_ids = np.array(ds.meta["source_subjects"])
    is_src = np.isin(ds.subject, src_ids)
    feats = (feats - feats[is_src].mean(0)) / feats[is_src].std(0)
    cent = {s: np.stack([feats[(ds.subject == s) & (ds.y == a)].mean(0) for a in range(6)])
            for s in ds.subjects.tolist()}

    def shift(s):
        ref = np.mean([cent[o] for o in src_ids if o != s], axis=0)
        return np.linalg.norm(cent[s] - ref, axis=1).mean()

    d_src = np.mean([shift(s) for s in src_ids])
    d_tgt = np.mean([shift(s) for s in ds.meta["target_subjects"]])
    assert d_tgt > 1.25 * d_src, (d_src, d_tgt)


def test_no_shift_makes_target_like_source():
    """With the target ranges set to the source ranges, the gap closes (the shift is the
    cause, not the subject ids)."""
    same = synthetic_har(seed=0, n_source=4, n_target=4, windows_per_activity=6,
                         target_shift=ShiftRanges(), source_shift=ShiftRanges())
    sd = lambda ids: same.X[np.isin(same.subject, ids)][..., 6:9].mean(axis=1).std(axis=0)
    ratio = sd(same.meta["target_subjects"]) / sd(same.meta["source_subjects"])
    assert np.all((ratio > 0.6) & (ratio < 1.6))


def test_stream_comes_in_bouts_not_iid(small_har):
    for sid in small_har.subjects:
        s = small_har.stream(int(sid))
        runs = np.diff(np.flatnonzero(np.r_[True, s.y[1:] != s.y[:-1], True]))
        assert runs.mean() > 2.0 and runs.min() >= 1
        assert set(s.y.tolist()) == set(range(6))
        assert np.all(np.diff(s.t) > 0)
    # an i.i.d. shuffle of the same labels would give runs of about 1.2
    rng = np.random.default_rng(0)
    shuffled = rng.permutation(small_har.stream(1).y)
    runs = np.diff(np.flatnonzero(np.r_[True, shuffled[1:] != shuffled[:-1], True]))
    assert runs.mean() < 2.0


def test_bout_length_follows_config():
    ds = synthetic_har(seed=1, n_source=2, n_target=0, windows_per_activity=30,
                       bout_windows=(5, 5))
    runs = np.bincount(ds.bouts())
    # bouts are 5 windows; merged neighbours (same activity left at the end) are multiples
    assert np.all(runs % 5 == 0) and np.median(runs) == 5


@pytest.mark.parametrize("params, message", [
    ({"n_sourc": 2}, "n_sourc: unknown key; did you mean 'n_source'?"),
    ({"n_source": 0}, "n_source: 0 is out of range [1, 10000]"),
    ({"bout_windows": (6, 3)}, "bout_windows: need 1 <= lo <= hi, got [6, 3]"),
    ({"hop": 200}, "hop: must be <= window (128), got 200"),
    ({"target_shift": {"rotation_deg": (40.0, 20.0)}},
     "target_shift.rotation_deg: need 0 <= lo <= hi, got [40.0, 20.0]"),
])
def test_bad_config_is_rejected_with_the_key(params, message):
    with pytest.raises(ConfigError) as e:
        synthetic_har(**params)
    assert str(e.value) == message


def test_config_object_and_overrides_agree():
    cfg = HarSynthConfig(seed=2, n_source=1, n_target=1, windows_per_activity=4)
    a = synthetic_har(cfg)
    b = synthetic_har(cfg, seed=2)
    c = synthetic_har(seed=2, n_source=1, n_target=1, windows_per_activity=4)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.X, c.X)


def test_other_window_shapes_work():
    ds = synthetic_har(seed=0, n_source=1, n_target=0, windows_per_activity=4, window=64,
                       hop=32)
    assert ds.X.shape == (24, 64, 9)
