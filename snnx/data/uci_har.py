"""Loader for a user's copy of the UCI HAR Dataset folder (nothing is downloaded).

Expected layout (the unzipped ``UCI HAR Dataset`` folder, or a folder that contains it)::

    activity_labels.txt            "1 WALKING" ... "6 LAYING"
    features.txt                   "1 tBodyAcc-mean()-X" ... (only for features="561")
    train/  y_train.txt            one label 1..6 per line
            subject_train.txt      one subject id per line
            X_train.txt            561 features per line (only for features="561")
            Inertial Signals/{body_acc,body_gyro,total_acc}_{x,y,z}_train.txt
                                   128 whitespace-separated floats per line
    test/   the same with _test

Two modes:

* ``features="raw"`` (default): X (N, 128, 9) float32 from the inertial signals, channels in
  :data:`~snnx.data.dataset.HAR_CHANNELS` order (body_acc g, body_gyro rad/s, total_acc g),
  sample_rate_hz 50 — the same shape and order as :func:`~snnx.data.synthetic_har`.
* ``features="561"``: X (N, 1, 561) float32, the dataset's engineered features (normalised to
  [-1, 1] by its authors), one "sample" per window; channel_names from features.txt and
  sample_rate_hz = 50 / 64 Hz (one feature vector per 64-sample hop).

Labels become 0-based indices into the lower-cased activity names (``walking``, ...,
``laying``). Rows keep the files' order, train first; ``t`` is the row index within its
file (UCI gives no time stamps). ``meta`` records the dataset's own subject split:
``source_subjects`` = train subjects, ``target_subjects`` = test subjects.

Example:
    >>> ds = load_uci_har("~/data/UCI HAR Dataset")  # doctest: +SKIP
    >>> ds.X.shape  # doctest: +SKIP
    (10299, 128, 9)
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from snnx.config.schema import KW, spec
from snnx.data.dataset import HAR_CHANNELS, HAR_SAMPLE_RATE_HZ, WindowDataset
from snnx.errors import ConfigError

log = logging.getLogger(__name__)

UCI_FOLDER_NAME = "UCI HAR Dataset"
_SIGNALS = tuple(f"{c}_" for c in HAR_CHANNELS)   # body_acc_x_ ... total_acc_z_
_WINDOW = 128
_HOP = 64
_N_FEATURES = 561


def find_uci_root(path: str | os.PathLike) -> Path:
    """The UCI HAR folder at ``path`` or directly inside it (``path/UCI HAR Dataset``)."""
    p = Path(path).expanduser()
    if (p / UCI_FOLDER_NAME).is_dir() and not (p / "activity_labels.txt").exists():
        return p / UCI_FOLDER_NAME
    return p


def _required_files(root: Path, splits: tuple[str, ...], features: str) -> list[Path]:
    files = [root / "activity_labels.txt"]
    for s in splits:
        files += [root / s / f"y_{s}.txt", root / s / f"subject_{s}.txt"]
        if features == "raw":
            files += [root / s / "Inertial Signals" / f"{c}{s}.txt" for c in _SIGNALS]
        else:
            files.append(root / s / f"X_{s}.txt")
    return files


def _check_folder(path: str | os.PathLike, root: Path, splits: tuple[str, ...],
                  features: str) -> None:
    if not root.is_dir():
        raise ConfigError(f"{path}: not a folder (expected the unzipped '{UCI_FOLDER_NAME}' "
                          f"folder)")
    missing = [str(f.relative_to(root)) for f in _required_files(root, splits, features)
               if not f.is_file()]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise ConfigError(f"{path}: not a UCI HAR Dataset folder: missing "
                          f"{', '.join(missing[:3])}{more} (expected the unzipped "
                          f"'{UCI_FOLDER_NAME}' folder with activity_labels.txt, train/ and "
                          f"test/)")


def _read_matrix(file: Path, cols: int | None) -> np.ndarray:
    """(rows, cols) float32 from a whitespace-separated text file; checks every row's length."""
    lines = [ln for ln in file.read_text().splitlines() if ln.strip()]
    if not lines:
        raise ConfigError(f"{file}: file is empty")
    cols = len(lines[0].split()) if cols is None else cols
    tokens = " ".join(lines).split()
    if len(tokens) != len(lines) * cols:
        for i, ln in enumerate(lines):
            if len(ln.split()) != cols:
                raise ConfigError(f"{file}: line {i + 1} has {len(ln.split())} values, "
                                  f"expected {cols}")
    try:
        vals = np.array(tokens, dtype=np.float32)
    except ValueError as e:
        raise ConfigError(f"{file}: non-numeric value ({e})") from None
    return vals.reshape(len(lines), cols)


def _read_ints(file: Path) -> np.ndarray:
    m = _read_matrix(file, 1)[:, 0]
    if not (m == np.round(m)).all():
        raise ConfigError(f"{file}: expected one integer per line")
    return m.astype(np.int64)


def _activity_names(root: Path) -> list[str]:
    """Lower-cased class names ordered by their 1-based id in activity_labels.txt."""
    file = root / "activity_labels.txt"
    pairs = []
    for i, ln in enumerate(file.read_text().splitlines()):
        if not ln.strip():
            continue
        parts = ln.split(maxsplit=1)
        if len(parts) != 2 or not parts[0].isdigit():
            raise ConfigError(f"{file}: line {i + 1} should be '<id> <NAME>', got {ln!r}")
        pairs.append((int(parts[0]), parts[1].strip().lower()))
    ids = sorted(p[0] for p in pairs)
    if ids != list(range(1, len(ids) + 1)):
        raise ConfigError(f"{file}: activity ids must be 1..K without gaps, got {ids}")
    return [name for _, name in sorted(pairs)]


def _feature_names(root: Path, n: int) -> list[str]:
    file = root / "features.txt"
    if not file.is_file():
        return [f"f{i}" for i in range(n)]
    names = [ln.split(maxsplit=1)[-1].strip() for ln in file.read_text().splitlines()
             if ln.strip()]
    if len(names) != n:
        raise ConfigError(f"{file}: lists {len(names)} features but X has {n} columns")
    return names


def _load_split(root: Path, split: str, features: str, n_classes: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = root / split
    y = _read_ints(d / f"y_{split}.txt")
    subject = _read_ints(d / f"subject_{split}.txt")
    if features == "raw":
        chans = [_read_matrix(d / "Inertial Signals" / f"{c}{split}.txt", _WINDOW)
                 for c in _SIGNALS]
        for c, m in zip(_SIGNALS, chans):
            if m.shape[0] != y.size:
                raise ConfigError(f"{d / 'Inertial Signals' / f'{c}{split}.txt'}: has "
                                  f"{m.shape[0]} rows but y_{split}.txt has {y.size}")
        X = np.stack(chans, axis=2)                                   # (N, 128, 9)
    else:
        X = _read_matrix(d / f"X_{split}.txt", _N_FEATURES)[:, None, :]  # (N, 1, 561)
        if X.shape[0] != y.size:
            raise ConfigError(f"{d / f'X_{split}.txt'}: has {X.shape[0]} rows but "
                              f"y_{split}.txt has {y.size}")
    if subject.size != y.size:
        raise ConfigError(f"{d / f'subject_{split}.txt'}: has {subject.size} rows but "
                          f"y_{split}.txt has {y.size}")
    bad = (y < 1) | (y > n_classes)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ConfigError(f"{d / f'y_{split}.txt'}: line {i + 1}: label {int(y[i])} is not "
                          f"an activity id 1..{n_classes} of activity_labels.txt")
    return X, y - 1, subject


def load_uci_har(path: str | os.PathLike, *, features: str = "raw",
                 splits: tuple[str, ...] | list[str] = ("train", "test")) -> WindowDataset:
    """Load a local copy of the UCI HAR Dataset.

    Args:
        path: the ``UCI HAR Dataset`` folder, or a folder that contains it.
        features: ``"raw"`` for (N, 128, 9) inertial windows or ``"561"`` for the
            (N, 1, 561) engineered feature vectors (see the module docstring).
        splits: which of the dataset's splits to read, in this order.

    Returns:
        WindowDataset; with both splits, ``meta`` holds ``source_subjects`` (train) and
        ``target_subjects`` (test).

    Raises:
        ConfigError: the folder is not a UCI HAR copy (names the missing files), a file is
            malformed (names the file and line), or an argument is invalid.
    """
    if features not in ("raw", "561"):
        raise ConfigError(f"features: {features!r} is not one of raw, 561")
    splits = tuple(splits)
    if not splits or any(s not in ("train", "test") for s in splits) or len(set(splits)) < len(
            splits):
        raise ConfigError(f"splits: expected train and/or test, got {list(splits)}")
    root = find_uci_root(path)
    _check_folder(path, root, splits, features)
    classes = _activity_names(root)
    parts = {s: _load_split(root, s, features, len(classes)) for s in splits}
    X = np.concatenate([p[0] for p in parts.values()])
    y = np.concatenate([p[1] for p in parts.values()])
    subject = np.concatenate([p[2] for p in parts.values()])
    t = np.concatenate([np.arange(p[1].size, dtype=np.float64) for p in parts.values()])
    meta: dict = {"uci_splits": list(splits), "features": features}
    if set(splits) == {"train", "test"}:
        src = sorted(set(parts["train"][2].tolist()))
        tgt = sorted(set(parts["test"][2].tolist()) - set(src))
        meta.update(source_subjects=src, target_subjects=tgt)
    if features == "raw":
        names, rate = HAR_CHANNELS, HAR_SAMPLE_RATE_HZ
    else:
        names, rate = _feature_names(root, X.shape[2]), HAR_SAMPLE_RATE_HZ / _HOP
    log.info("loaded UCI HAR from %s: %d windows, X %s", root, y.size, X.shape)
    return WindowDataset(X=X, y=y, subject=subject, t=t, classes=classes, sample_rate_hz=rate,
                         channel_names=names, meta=meta, name=str(root))


@dataclasses.dataclass(**KW)
class Params:
    """Recipe parameters of uci_har (``data.uci_har``)."""

    path: str = spec(doc="the unpacked 'UCI HAR Dataset' folder (or a folder holding it)")
    features: str = spec("raw", choices=("raw", "561"),
                         doc="raw: (N, 128, 9) inertial windows | 561: engineered features")

    def __post_init__(self) -> None:
        if not Path(self.path).expanduser().is_dir():
            raise ConfigError(f"path: folder not found: {self.path} (the unpacked "
                              f"'UCI HAR Dataset' folder)")


def open_dataset(params: Params, request: Any) -> WindowDataset:
    """The user's UCI HAR copy of a recipe (registry entry ``uci_har``)."""
    return load_uci_har(Path(params.path).expanduser(), features=params.features)
