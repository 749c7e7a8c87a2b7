"""Synthetic human-activity data shaped like UCI HAR raw windows (METHODS.md section 12).

The offline default of ``snnx adapt``: seeded, vectorised numpy, the default set in well
under a second. Windows are 128 samples at 50 Hz with 50 % overlap, 9 channels in
:data:`~snnx.data.dataset.HAR_CHANNELS` order, 6 activities in
:data:`~snnx.data.dataset.HAR_CLASSES` order.

Signal model, in the body frame (x up the trunk, y lateral, z forward), per sample n at
time t = n / 50 Hz of one bout of activity a (one continuous recording, later cut into
windows with hop 64):

* gait phase ``phi(t) = phi0 + 2 pi f t + w(t)``, cadence ``f = f_a * s_cad * (1 + e)``
  (``s_cad`` per subject, ``e`` per bout, ``w`` a small random walk: stride jitter);
* linear acceleration ``a_i(t) = s_amp * m * sum_h A[a,i,h] sin(h phi + P[a,i,h])``,
  h = 1, 2, 3 (g);
* trunk angles ``theta_i(t) = s_amp * m * sum_h G[a,i,h] sin(h phi + Q[a,i,h])`` about
  x (yaw), y (pitch), z (roll) (rad); the gyroscope reads ``omega_i = d theta_i / dt``;
  static activities replace the gait by a slow sway (0.1-0.4 Hz, about 1 deg);
* gravity ``g(t) = [cos p cos r, sin r, sin p cos r]`` (g) with pitch ``p`` and roll ``r``
  = posture of the activity + per-subject habit + per-bout jitter + trunk angles
  (sitting and standing differ by a few degrees of pitch only; laying turns gravity
  onto z);
* sensors, mounted with rotation ``R`` (10-30 deg about a random axis for source
  subjects): ``body_acc = k_a * (R a) + n_a``, ``body_gyro = k_g * (R omega) + n_g``,
  ``total_acc = body_acc + k_a * (R g) + o`` with per-axis gains ``k``, accelerometer
  offset ``o`` (the gravity filter of real data removes ``o`` from body_acc) and white
  noise ``n`` scaled by the subject's noise level.

Target subjects draw every per-subject factor from a range further from the identity
than the source ranges (:class:`ShiftRanges`), so a model trained on source subjects
loses accuracy on them. Each subject's recording is a shuffled sequence of bouts of
``bout_windows`` windows of one activity, never the same activity twice in a row.

Example:
    >>> ds = synthetic_har(seed=0, n_source=2, n_target=1, windows_per_activity=8)
    >>> ds.X.shape, ds.channel_names[6]
    ((144, 128, 9), 'total_acc_x')
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from snnx.config.schema import build, spec, without
from snnx.data.dataset import HAR_CHANNELS, HAR_CLASSES, HAR_SAMPLE_RATE_HZ, WindowDataset
from snnx.errors import ConfigError

log = logging.getLogger(__name__)

_KW = dict(frozen=True, kw_only=True)


@dataclasses.dataclass(**_KW)
class ShiftRanges:
    """How far one group of subjects departs from the nominal person and sensor.

    Every range is ``[lo, hi]``; a subject draws a magnitude uniformly from it and, where
    the factor is two-sided, a random sign.
    """

    cadence: tuple[float, float] = spec((0.0, 0.15), doc="relative cadence change: "
                                        "f *= 1 +- U(lo, hi)")
    amplitude: tuple[float, float] = spec((0.0, 0.3), doc="relative motion amplitude change: "
                                          "A *= 1 +- U(lo, hi)")
    rotation_deg: tuple[float, float] = spec((10.0, 30.0), doc="deg, sensor mounting rotation "
                                             "about a random axis")
    gain: tuple[float, float] = spec((0.0, 0.10), doc="relative per-axis sensor gain error, "
                                     "accelerometer and gyroscope")
    offset_g: tuple[float, float] = spec((0.0, 0.05), doc="g, per-axis accelerometer offset")
    noise: tuple[float, float] = spec((0.7, 1.3), doc="factor on the nominal noise levels")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            lo, hi = getattr(self, f.name)
            if not 0.0 <= lo <= hi:
                raise ConfigError(f"{f.name}: need 0 <= lo <= hi, got [{lo}, {hi}]")


_SOURCE_SHIFT = ShiftRanges()
_TARGET_SHIFT = ShiftRanges(cadence=(0.10, 0.20), amplitude=(0.15, 0.35),
                            rotation_deg=(25.0, 40.0), gain=(0.05, 0.12),
                            offset_g=(0.03, 0.06), noise=(1.1, 1.5))


@dataclasses.dataclass(**_KW)
class HarSynthConfig:
    """Size, seed and physics knobs of the synthetic HAR set (defaults: METHODS.md 12)."""

    seed: int = spec(0, doc="seed of everything; subject k of a role gets its own stream")
    n_source: int = spec(20, lo=1, hi=10000, doc="source subjects (pretraining), ids 1..n")
    n_target: int = spec(4, lo=0, hi=10000, doc="target subjects (adaptation), ids after the "
                         "source ids")
    windows_per_activity: int = spec(40, lo=1, hi=100000, doc="windows per activity per "
                                     "subject")
    target_windows_per_activity: int | None = spec(
        None, lo=1, hi=100000, doc="windows per activity of each target subject; null = "
        "windows_per_activity (a larger held-out target set leaves the sources unchanged)")
    bout_windows: tuple[int, int] = spec((3, 12), doc="windows per bout, drawn uniformly "
                                         "in [lo, hi]")
    window: int = spec(128, lo=8, hi=100000, doc="samples per window")
    hop: int = spec(64, lo=1, hi=100000, doc="samples between window starts (64 = 50 % "
                    "overlap)")
    gap_s: float = spec(2.0, lo=0, doc="s, pause between bouts in the arrival times t")
    acc_noise_g: float = spec(0.015, lo=0, doc="g, nominal accelerometer white noise (sd)")
    gyro_noise: float = spec(0.03, lo=0, doc="rad/s, nominal gyroscope white noise (sd)")
    posture_habit_deg: float = spec(2.0, lo=0, doc="deg, sd of a subject's own posture "
                                    "offset (pitch and roll, per activity)")
    posture_jitter_deg: float = spec(1.0, lo=0, doc="deg, sd of posture change between "
                                     "bouts")
    source_shift: ShiftRanges = spec(factory=lambda: _SOURCE_SHIFT,
                                     doc="subject shift of source subjects")
    target_shift: ShiftRanges = spec(factory=lambda: _TARGET_SHIFT,
                                     doc="subject shift of target subjects (larger)")

    def __post_init__(self) -> None:
        lo, hi = self.bout_windows
        if not 1 <= lo <= hi:
            raise ConfigError(f"bout_windows: need 1 <= lo <= hi, got [{lo}, {hi}]")
        if self.hop > self.window:
            raise ConfigError(f"hop: must be <= window ({self.window}), got {self.hop}")


# ---- activity templates ---------------------------------------------------------------
# Rows: axes x (vertical), y (lateral), z (forward); columns: harmonics 1f, 2f, 3f.
# Static activities have no gait (cadence 0); their posture is what tells them apart.
@dataclasses.dataclass(**_KW)
class _Activity:
    cadence_hz: float                  # Hz, gait frequency f (0: static)
    acc: tuple                         # g, peak linear acceleration per axis and harmonic
    acc_phase: tuple                   # rad, relative phase per axis and harmonic
    ang: tuple                         # rad, trunk angle amplitude about x, y, z
    ang_phase: tuple                   # rad
    pitch_deg: float                   # deg, mean forward lean (90 = lying on the back)
    roll_jitter_deg: float = 0.0       # deg, extra per-bout roll spread (laying sideways)


_ZERO = ((0.0,) * 3,) * 3
_ACTIVITIES = (
    _Activity(cadence_hz=1.85,  # walking
              acc=((0.30, 0.12, 0.05), (0.08, 0.05, 0.02), (0.15, 0.07, 0.03)),
              acc_phase=((0.0, 0.4, 1.1), (1.6, 0.2, 2.3), (0.9, 1.4, 0.3)),
              ang=((0.07, 0.02, 0.01), (0.035, 0.015, 0.005), (0.045, 0.015, 0.005)),
              ang_phase=((0.3, 1.0, 2.0), (1.2, 0.1, 0.7), (2.1, 0.5, 1.5)),
              pitch_deg=3.0),
    _Activity(cadence_hz=1.60,  # walking_upstairs: slower, leaning forward, more pitch
              acc=((0.22, 0.08, 0.03), (0.10, 0.04, 0.02), (0.22, 0.06, 0.02)),
              acc_phase=((0.5, 1.2, 0.2), (2.0, 0.9, 1.7), (0.1, 2.4, 1.0)),
              ang=((0.06, 0.015, 0.005), (0.065, 0.02, 0.01), (0.035, 0.015, 0.005)),
              ang_phase=((1.1, 0.4, 2.2), (0.2, 1.9, 0.8), (1.7, 0.6, 2.5)),
              pitch_deg=10.0),
    _Activity(cadence_hz=2.05,  # walking_downstairs: faster, sharper (strong harmonics)
              acc=((0.40, 0.25, 0.15), (0.10, 0.06, 0.04), (0.18, 0.12, 0.08)),
              acc_phase=((0.2, 0.8, 1.6), (1.0, 2.2, 0.4), (2.5, 0.6, 1.9)),
              ang=((0.06, 0.03, 0.015), (0.045, 0.03, 0.015), (0.055, 0.03, 0.015)),
              ang_phase=((2.4, 1.3, 0.1), (0.7, 2.0, 1.2), (0.4, 1.6, 2.8)),
              pitch_deg=-3.0),
    _Activity(cadence_hz=0.0, acc=_ZERO, acc_phase=_ZERO, ang=_ZERO, ang_phase=_ZERO,
              pitch_deg=12.0),  # sitting: a little more pitch than standing
    _Activity(cadence_hz=0.0, acc=_ZERO, acc_phase=_ZERO, ang=_ZERO, ang_phase=_ZERO,
              pitch_deg=2.0),   # standing
    _Activity(cadence_hz=0.0, acc=_ZERO, acc_phase=_ZERO, ang=_ZERO, ang_phase=_ZERO,
              pitch_deg=88.0, roll_jitter_deg=10.0),  # laying
)
_SWAY_DEG = 1.0          # deg, static sway amplitude
_SWAY_ACC_G = 0.004      # g, body acceleration of the sway
_PHASE_WALK_RAD = 0.01   # rad per sample, sd of the gait phase random walk
_BOUT_CADENCE_SD = 0.03  # relative sd of cadence between bouts
_BOUT_AMP_SD = 0.08      # relative sd of motion amplitude between bouts


def _table(attr: str) -> np.ndarray:
    return np.array([getattr(a, attr) for a in _ACTIVITIES], dtype=np.float64)


def _rotation(axis: np.ndarray, angle_rad: float) -> np.ndarray:
    """3x3 rotation by ``angle_rad`` about unit ``axis`` (Rodrigues' formula)."""
    k = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    return np.eye(3) + np.sin(angle_rad) * k + (1.0 - np.cos(angle_rad)) * (k @ k)


def _draw_subject(rng: np.random.Generator, shift: ShiftRanges, cfg: HarSynthConfig) -> dict:
    """Per-subject factors: cadence, amplitude, mounting, gains, offset, noise, habits."""
    def two_sided(rng_: tuple[float, float], size=None):
        mag = rng.uniform(*rng_, size=size)
        return mag * rng.choice([-1.0, 1.0], size=size)

    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    n_act = len(_ACTIVITIES)
    return {
        "cadence": 1.0 + two_sided(shift.cadence),
        "amplitude": 1.0 + two_sided(shift.amplitude),
        "mount": _rotation(axis, np.deg2rad(rng.uniform(*shift.rotation_deg))),
        "acc_gain": 1.0 + two_sided(shift.gain, 3),
        "gyro_gain": 1.0 + two_sided(shift.gain, 3),
        "offset": two_sided(shift.offset_g, 3),
        "noise": rng.uniform(*shift.noise),
        "habit": np.deg2rad(rng.normal(0.0, cfg.posture_habit_deg, size=(n_act, 2))),
    }


def _bout_plan(rng: np.random.Generator, cfg: HarSynthConfig) -> tuple[np.ndarray, np.ndarray]:
    """Activity and length (windows) of each bout, in arrival order.

    Each activity gets ``windows_per_activity`` windows cut into bouts of
    ``bout_windows`` windows; the next bout is drawn, weighted by the windows an activity
    still has, among activities other than the current one (when only the current one is
    left, its bouts are merged into the current bout).
    """
    lo, hi = cfg.bout_windows
    pending: list[list[int]] = []
    for _ in _ACTIVITIES:
        lens, left = [], cfg.windows_per_activity
        while left > 0:
            n = min(left, int(rng.integers(lo, hi + 1)))
            lens.append(n)
            left -= n
        pending.append(lens)
    acts: list[int] = []
    lens_out: list[int] = []
    while any(pending):
        weights = np.array([sum(p) for p in pending], dtype=np.float64)
        if acts:
            weights[acts[-1]] = 0.0
        if weights.sum() == 0.0:  # only the current activity is left: extend its bout
            lens_out[-1] += sum(pending[acts[-1]])
            pending[acts[-1]] = []
            continue
        a = int(rng.choice(len(pending), p=weights / weights.sum()))
        acts.append(a)
        lens_out.append(pending[a].pop())
    return np.array(acts, np.int64), np.array(lens_out, np.int64)


def _subject_windows(rng: np.random.Generator, cfg: HarSynthConfig, subj: dict
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render one subject's recording and cut it into windows.

    Returns:
        X (n, window, 9) float32, y (n,) int64, t (n,) float64 window start times in s.
    """
    fs = HAR_SAMPLE_RATE_HZ
    acts, n_win = _bout_plan(rng, cfg)
    n_bouts = acts.size
    seg_len = (n_win - 1) * cfg.hop + cfg.window              # samples per bout
    seg_start = np.concatenate([[0], np.cumsum(seg_len)[:-1]])
    total = int(seg_len.sum())
    seg = np.repeat(np.arange(n_bouts), seg_len)               # (L,) bout of each sample
    t_loc = (np.arange(total) - seg_start[seg]) / fs           # s, time within the bout
    act = acts[seg]

    # per-bout draws
    spec_ = _ACTIVITIES
    cad = _table("cadence_hz")[acts] * subj["cadence"] * (
        1.0 + _BOUT_CADENCE_SD * rng.normal(size=n_bouts))
    amp = subj["amplitude"] * (1.0 + _BOUT_AMP_SD * rng.normal(size=n_bouts))
    phi0 = rng.uniform(0.0, 2 * np.pi, n_bouts)
    jitter = np.deg2rad(cfg.posture_jitter_deg) * rng.normal(size=(n_bouts, 2))
    jitter[:, 1] += np.deg2rad([spec_[a].roll_jitter_deg for a in acts]) * rng.normal(
        size=n_bouts)
    posture = np.deg2rad(_table("pitch_deg")[acts]) + subj["habit"][acts, 0] + jitter[:, 0]
    roll0 = subj["habit"][acts, 1] + jitter[:, 1]
    sway_f = rng.uniform(0.1, 0.4, n_bouts)
    sway_ph = rng.uniform(0.0, 2 * np.pi, (n_bouts, 3))

    # gait: harmonics of a jittered phase, per axis (L, 3). With s_h = sin(h phi) and
    # c_h = cos(h phi): A sin(h phi + P) = s_h (A cos P) + c_h (A sin P), so only six
    # transcendental calls per sample are needed.
    walk = np.cumsum(rng.normal(0.0, _PHASE_WALK_RAD, total))
    phase = phi0[seg] + 2 * np.pi * cad[seg] * t_loc + walk
    h = np.arange(1, 4, dtype=np.float64)
    s_h, c_h = np.sin(h * phase[:, None]), np.cos(h * phase[:, None])   # (L, 3)
    a_amp = _table("acc")[acts] * amp[:, None, None]                   # (B, 3 axes, 3 h)
    g_amp = _table("ang")[acts] * amp[:, None, None]
    a_ph, g_ph = _table("acc_phase")[acts], _table("ang_phase")[acts]
    lin = (np.einsum("lh,lih->li", s_h, (a_amp * np.cos(a_ph))[seg])
           + np.einsum("lh,lih->li", c_h, (a_amp * np.sin(a_ph))[seg]))           # g
    ang = (np.einsum("lh,lih->li", s_h, (g_amp * np.cos(g_ph))[seg])
           + np.einsum("lh,lih->li", c_h, (g_amp * np.sin(g_ph))[seg]))           # rad
    w_amp = g_amp * h * (2 * np.pi * cad)[:, None, None]                # rad/s
    omega = (np.einsum("lh,lih->li", c_h, (w_amp * np.cos(g_ph))[seg])
             - np.einsum("lh,lih->li", s_h, (w_amp * np.sin(g_ph))[seg]))

    # static sway: slow, small tilt about every axis, and its tiny acceleration
    static = (_table("cadence_hz")[act] == 0.0)[:, None]
    w_s = 2 * np.pi * sway_f[seg][:, None]
    s_arg = w_s * t_loc[:, None] + sway_ph[seg]
    sway = np.deg2rad(_SWAY_DEG) * np.sin(s_arg)
    ang = np.where(static, sway, ang)
    omega = np.where(static, np.deg2rad(_SWAY_DEG) * w_s * np.cos(s_arg), omega)
    lin = np.where(static, _SWAY_ACC_G * np.sin(s_arg + 1.0), lin)

    # gravity from posture pitch / roll plus trunk angles
    p = posture[seg] + ang[:, 1]
    r = roll0[seg] + ang[:, 2]
    grav = np.stack([np.cos(p) * np.cos(r), np.sin(r), np.sin(p) * np.cos(r)], axis=1)

    # sensors
    R, noise = subj["mount"], subj["noise"]
    body = subj["acc_gain"] * (lin @ R.T) + cfg.acc_noise_g * noise * rng.normal(size=(total, 3))
    gyro = subj["gyro_gain"] * (omega @ R.T) + cfg.gyro_noise * noise * rng.normal(
        size=(total, 3))
    tot = body + subj["acc_gain"] * (grav @ R.T) + subj["offset"]
    sig = np.concatenate([body, gyro, tot], axis=1).astype(np.float32)   # (L, 9)

    # windows: bout b gives n_win[b] windows starting every hop samples
    w_bout = np.repeat(np.arange(n_bouts), n_win)
    k = np.arange(w_bout.size) - np.repeat(np.cumsum(n_win) - n_win, n_win)
    starts = seg_start[w_bout] + k * cfg.hop
    X = sig[starts[:, None] + np.arange(cfg.window)]
    gap = int(round(cfg.gap_s * fs))
    t = (starts + w_bout * gap) / fs
    return X, acts[w_bout], t


def synthetic_har(config: HarSynthConfig | Mapping[str, Any] | None = None,
                  **params: Any) -> WindowDataset:
    """Generate the synthetic HAR set.

    Args:
        config: a :class:`HarSynthConfig`, or a mapping of its keys; None for defaults.
        **params: keys of :class:`HarSynthConfig` (override ``config``), e.g. ``seed=3``.

    Returns:
        WindowDataset with X (N, window, 9) float32 in HAR_CHANNELS order (g, rad/s, g),
        y (N,) in HAR_CLASSES order, subject ids ``1..n_source`` (source) then
        ``n_source+1..n_source+n_target`` (target), t = window start in s within the
        subject's recording, and ``meta`` holding ``source_subjects``,
        ``target_subjects``, ``seed`` and ``generator``.

    Raises:
        ConfigError: an unknown key or an out-of-range value (message names the key).

    Subject k of a role depends only on (seed, role, k): adding target subjects leaves
    the source subjects unchanged.
    """
    if isinstance(config, HarSynthConfig):
        cfg = dataclasses.replace(config, **params) if params else config
    else:
        cfg = build(HarSynthConfig, {**dict(config or {}), **params})
    start = time.perf_counter()
    Xs, ys, ss, ts = [], [], [], []
    roles = [(0, i, cfg.source_shift) for i in range(cfg.n_source)]
    roles += [(1, i, cfg.target_shift) for i in range(cfg.n_target)]
    tgt_cfg = cfg if cfg.target_windows_per_activity is None else dataclasses.replace(
        cfg, windows_per_activity=cfg.target_windows_per_activity)
    for sid, (role, i, shift) in enumerate(roles, start=1):
        rng = np.random.default_rng([cfg.seed, role, i])
        c = tgt_cfg if role else cfg
        X, y, t = _subject_windows(rng, c, _draw_subject(rng, shift, c))
        Xs.append(X)
        ys.append(y)
        ts.append(t)
        ss.append(np.full(y.size, sid, np.int64))
    ds = WindowDataset(
        X=np.concatenate(Xs), y=np.concatenate(ys), subject=np.concatenate(ss),
        t=np.concatenate(ts), classes=HAR_CLASSES, sample_rate_hz=HAR_SAMPLE_RATE_HZ,
        channel_names=HAR_CHANNELS, name="synthetic_har",
        meta={"source_subjects": list(range(1, cfg.n_source + 1)),
              "target_subjects": list(range(cfg.n_source + 1, cfg.n_source + cfg.n_target + 1)),
              "seed": cfg.seed, "generator": "snnx.data.har_synth"})
    log.debug("synthetic_har: %d windows of %d subjects in %.3f s", len(ds), len(roles),
              time.perf_counter() - start)
    return ds


Params = without(HarSynthConfig, ("seed", "n_source", "n_target"), "Params",
                 "Recipe parameters of synthetic_har (``data.synthetic_har``): every knob of "
                 ":class:`HarSynthConfig` but the seed and the subject counts, which come from "
                 "the recipe seed and ``data.source_subjects`` / ``data.target_subjects``.")


def open_dataset(params: Any, request: Any) -> WindowDataset:
    """The synthetic set of a recipe (registry entry ``synthetic_har``)."""
    knobs = {f.name: getattr(params, f.name) for f in dataclasses.fields(params)}
    return synthetic_har(HarSynthConfig(seed=request.seed, n_source=request.source_subjects,
                                        n_target=request.target_subjects, **knobs))
