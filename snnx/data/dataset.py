"""The one dataset type every loader returns: :class:`WindowDataset`.

A dataset is a stack of fixed-length multichannel windows, batch first, exactly the generic
HDF5 layout of DESIGN.md ("Data layout")::

    X        float32 (N, T, C)   windows: N windows of T samples of C channels
    y        int64   (N,)        class index into ``classes``
    subject  int64   (N,)        who produced the window (0 when unknown)
    t        float64 (N,)        order of arrival within a subject (only the order matters)

Human activity recognition (HAR) data uses the UCI HAR raw-window conventions collected
here (:data:`HAR_CLASSES`, :data:`HAR_CHANNELS`), shared by the synthetic generator and the
UCI loader so that one can replace the other.

Example:
    >>> import numpy as np
    >>> ds = WindowDataset(X=np.zeros((4, 8, 2), np.float32), y=np.array([0, 1, 1, 0]),
    ...                    classes=("a", "b"), sample_rate_hz=10.0)
    >>> len(ds), ds.window_len, ds.n_channels
    (4, 8, 2)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from snnx.errors import ConfigError

HAR_CLASSES: tuple[str, ...] = ("walking", "walking_upstairs", "walking_downstairs",
                                "sitting", "standing", "laying")
"""The six UCI HAR activities, in the order of the dataset's ``activity_labels.txt``."""

HAR_CHANNELS: tuple[str, ...] = (
    "body_acc_x", "body_acc_y", "body_acc_z",      # g, gravity removed
    "body_gyro_x", "body_gyro_y", "body_gyro_z",   # rad/s
    "total_acc_x", "total_acc_y", "total_acc_z",   # g, gravity included
)
"""The nine UCI HAR raw channels, in the order every HAR dataset in snnx uses."""

HAR_SAMPLE_RATE_HZ = 50.0
"""Hz, sample rate of UCI HAR raw windows (128 samples = 2.56 s, hop 64 = 50 % overlap)."""


def validate_arrays(source: str, X: np.ndarray, y: np.ndarray, subject: np.ndarray | None,
                    t: np.ndarray | None, n_classes: int, *, prefix: str = "") -> None:
    """Check the arrays of one dataset against the layout; raise on the first problem.

    Args:
        source: what the arrays came from (a file path or dataset name); starts every message.
        X: (N, T, C) windows, any real dtype.
        y: (N,) integer class indices.
        subject: (N,) integer subject ids, or None.
        t: (N,) arrival order, or None.
        n_classes: number of class names; labels must lie in ``[0, n_classes)``.
        prefix: written before array names in messages ("/" for HDF5 datasets).

    Raises:
        ConfigError: ``"<source>: <what is wrong>"``.
    """
    p = prefix
    if not np.issubdtype(X.dtype, np.number) or np.iscomplexobj(X):
        raise ConfigError(f"{source}: {p}X must hold real numbers, got dtype {X.dtype}")
    if X.ndim != 3:
        raise ConfigError(f"{source}: {p}X must have rank 3 (N, T, C), got shape {X.shape}")
    n = X.shape[0]
    if n == 0 or X.shape[1] == 0 or X.shape[2] == 0:
        raise ConfigError(f"{source}: {p}X must not be empty, got shape {X.shape}")
    for name, arr in (("y", y), ("subject", subject), ("t", t)):
        if arr is None:
            continue
        if arr.ndim != 1:
            raise ConfigError(f"{source}: {p}{name} must have rank 1 (N,), got shape {arr.shape}")
        if arr.shape[0] != n:
            raise ConfigError(f"{source}: {p}{name} has {arr.shape[0]} rows but {p}X has {n}")
    for name, arr in (("y", y), ("subject", subject)):
        if arr is not None and not np.issubdtype(arr.dtype, np.integer):
            raise ConfigError(f"{source}: {p}{name} must hold integers, got dtype {arr.dtype}")
    if n_classes < 1:
        raise ConfigError(f"{source}: classes must name at least one class")
    bad = (y < 0) | (y >= n_classes)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ConfigError(f"{source}: {p}y[{i}] = {int(y[i])} is out of range of the "
                          f"{n_classes} classes (labels must be 0..{n_classes - 1})")
    if not np.isfinite(X).all():
        i = int(np.flatnonzero(~np.isfinite(X).reshape(n, -1).all(axis=1))[0])
        raise ConfigError(f"{source}: {p}X has non-finite values (NaN or inf), first in "
                          f"window {i}")
    if t is not None:
        if not np.issubdtype(t.dtype, np.number) or np.iscomplexobj(t):
            raise ConfigError(f"{source}: {p}t must hold real numbers, got dtype {t.dtype}")
        if not np.isfinite(t).all():
            raise ConfigError(f"{source}: {p}t has non-finite values (NaN or inf)")


def _as_int64(a: Any, source: str, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype.kind == "f" and np.isfinite(arr).all() and (arr == np.round(arr)).all():
        return arr.astype(np.int64)
    if arr.dtype.kind in "iub":
        return arr.astype(np.int64, copy=False)
    raise ConfigError(f"{source}: {name} must hold integers, got dtype {arr.dtype}")


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class WindowDataset:
    """Windows, labels, subjects and arrival order of one dataset (numpy, CPU).

    Constructing one validates it (shapes, dtypes, label range, finite values) and casts
    ``X`` to float32, ``y``/``subject`` to int64 and ``t`` to float64. Methods that select
    windows return new datasets that share ``classes``, ``channel_names`` and ``meta``.
    """

    X: np.ndarray
    """(N, T, C) float32 windows; channel units as named in ``channel_names``."""
    y: np.ndarray
    """(N,) int64 class indices into ``classes``."""
    subject: np.ndarray | None = None
    """(N,) int64 subject ids; None means all zero (one unknown subject)."""
    t: np.ndarray | None = None
    """(N,) float64 order of arrival within a subject (synthetic HAR: window start in s);
    None means the row order."""
    classes: Sequence[str]
    """Class names; ``y == k`` means ``classes[k]``."""
    sample_rate_hz: float
    """Hz, sample rate along the T axis (> 0)."""
    channel_names: Sequence[str] | None = None
    """C channel names (with units in the docs of the source); None gives ch0, ch1, ..."""
    meta: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """Free JSON-like facts, e.g. ``source_subjects`` / ``target_subjects`` (lists of ids)."""
    name: str = "dataset"
    """Where the data came from; starts every validation message."""

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        X = np.asarray(self.X)
        y = _as_int64(self.y, self.name, "y")
        subject = None if self.subject is None else _as_int64(self.subject, self.name, "subject")
        t = None if self.t is None else np.asarray(self.t)
        validate_arrays(self.name, X, y, subject, t, len(self.classes))
        n, _, c = X.shape
        set_(self, "X", X.astype(np.float32, copy=False))
        set_(self, "y", y)
        set_(self, "subject", np.zeros(n, np.int64) if subject is None else subject)
        set_(self, "t", np.arange(n, dtype=np.float64) if t is None else t.astype(np.float64))
        set_(self, "classes", tuple(str(k) for k in self.classes))
        if len(set(self.classes)) != len(self.classes):
            raise ConfigError(f"{self.name}: class names must be unique, got {self.classes}")
        names = (tuple(f"ch{i}" for i in range(c)) if self.channel_names is None
                 else tuple(str(k) for k in self.channel_names))
        if len(names) != c:
            raise ConfigError(f"{self.name}: {len(names)} channel names for {c} channels")
        set_(self, "channel_names", names)
        rate = float(self.sample_rate_hz)
        if not (np.isfinite(rate) and rate > 0):
            raise ConfigError(f"{self.name}: sample_rate_hz must be a positive number, got "
                              f"{self.sample_rate_hz!r}")
        set_(self, "sample_rate_hz", rate)
        set_(self, "meta", dict(self.meta))

    # ---- shape facts -------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.X.shape[0])

    @property
    def window_len(self) -> int:
        """T, samples per window."""
        return int(self.X.shape[1])

    @property
    def n_channels(self) -> int:
        """C, channels per sample."""
        return int(self.X.shape[2])

    @property
    def n_classes(self) -> int:
        """Number of classes (length of ``classes``)."""
        return len(self.classes)

    @property
    def subjects(self) -> np.ndarray:
        """Sorted unique subject ids, int64."""
        return np.unique(self.subject)

    def class_counts(self) -> np.ndarray:
        """(n_classes,) int64 number of windows per class."""
        return np.bincount(self.y, minlength=self.n_classes).astype(np.int64)

    # ---- selection ---------------------------------------------------------------------
    def subset(self, index: np.ndarray | Sequence[int]) -> WindowDataset:
        """The windows picked by a boolean mask (N,) or an integer index array, in that order."""
        idx = np.asarray(index)
        if idx.dtype == bool:
            if idx.shape != (len(self),):
                raise ConfigError(f"{self.name}: mask has shape {idx.shape}, expected "
                                  f"({len(self)},)")
            idx = np.flatnonzero(idx)
        if idx.size == 0:
            raise ConfigError(f"{self.name}: the selection is empty")
        return dataclasses.replace(self, X=self.X[idx], y=self.y[idx],
                                   subject=self.subject[idx], t=self.t[idx])

    def split_by_subject(self, source_ids: Sequence[int], target_ids: Sequence[int]
                         ) -> tuple[WindowDataset, WindowDataset]:
        """(source, target) datasets holding the windows of the given subjects.

        Raises:
            ConfigError: an id is unknown, or a subject is on both sides.
        """
        src, tgt = self._ids(source_ids, "source"), self._ids(target_ids, "target")
        both = sorted(set(src) & set(tgt))
        if both:
            raise ConfigError(f"{self.name}: subjects {both} are both source and target")
        return (self.subset(np.isin(self.subject, src)),
                self.subset(np.isin(self.subject, tgt)))

    def source_target(self) -> tuple[WindowDataset, WindowDataset]:
        """The split recorded in ``meta['source_subjects']`` / ``meta['target_subjects']``."""
        try:
            src, tgt = self.meta["source_subjects"], self.meta["target_subjects"]
        except KeyError:
            raise ConfigError(f"{self.name}: no source/target split recorded in meta; use "
                              f"split_by_subject(source_ids, target_ids)") from None
        return self.split_by_subject(src, tgt)

    def stream(self, subject: int) -> WindowDataset:
        """The windows of one subject in order of arrival (stable sort by ``t``)."""
        sid = self._ids([subject], "stream")[0]
        idx = np.flatnonzero(self.subject == sid)
        return self.subset(idx[np.argsort(self.t[idx], kind="stable")])

    def bouts(self) -> np.ndarray:
        """(N,) int64 bout id per window: a bout is a run of one label in a subject's stream.

        Ids are numbered 0, 1, ... in (subject, arrival) order.
        """
        order = np.lexsort((np.arange(len(self)), self.t, self.subject))
        ys, ss = self.y[order], self.subject[order]
        new = np.ones(len(self), bool)
        new[1:] = (ys[1:] != ys[:-1]) | (ss[1:] != ss[:-1])
        out = np.empty(len(self), np.int64)
        out[order] = np.cumsum(new) - 1
        return out

    def train_test_split(self, test_frac: float, seed: int, *, by: str = "window"
                         ) -> tuple[WindowDataset, WindowDataset]:
        """Seeded split into (train, test), stratified by class.

        Args:
            test_frac: fraction of windows (or bouts) per class that go to test, in (0, 1).
            seed: seed of the numpy generator that draws the split.
            by: ``"window"`` draws single windows; ``"bout"`` keeps every bout (see
                :meth:`bouts`) whole, so that 50 %-overlapping neighbours of a test window
                are not in train.

        Returns:
            (train, test); each keeps the original row order.
        """
        if not 0.0 < test_frac < 1.0:
            raise ConfigError(f"{self.name}: test_frac must be in (0, 1), got {test_frac!r}")
        if by not in ("window", "bout"):
            raise ConfigError(f"{self.name}: by={by!r} is not one of window, bout")
        rng = np.random.default_rng(seed)
        group = np.arange(len(self)) if by == "window" else self.bouts()
        test = np.zeros(len(self), bool)
        for k in range(self.n_classes):
            ids = np.unique(group[self.y == k])
            if ids.size < 2:
                continue
            n_test = min(ids.size - 1, max(1, int(round(test_frac * ids.size))))
            test |= np.isin(group, rng.permutation(ids)[:n_test])
        return self.subset(~test), self.subset(test)

    # ---- normalisation -----------------------------------------------------------------
    def channel_stats(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel mean and standard deviation over all windows and samples.

        Returns:
            (mean, std), each (C,) float32 in channel units; std is at least 1e-8.
        """
        flat = self.X.reshape(-1, self.n_channels).astype(np.float64)
        mean, std = flat.mean(axis=0), flat.std(axis=0)
        return mean.astype(np.float32), np.maximum(std, 1e-8).astype(np.float32)

    def standardized(self, mean: np.ndarray, std: np.ndarray) -> WindowDataset:
        """A copy with ``X = (X - mean) / std`` per channel (use the source's stats)."""
        mean = np.asarray(mean, np.float32).reshape(1, 1, -1)
        std = np.asarray(std, np.float32).reshape(1, 1, -1)
        return dataclasses.replace(self, X=(self.X - mean) / std)

    # ---- helpers -----------------------------------------------------------------------
    def _ids(self, ids: Sequence[int], what: str) -> list[int]:
        ids = [int(i) for i in np.atleast_1d(np.asarray(ids))]
        if not ids:
            raise ConfigError(f"{self.name}: no {what} subjects given")
        known = set(self.subjects.tolist())
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise ConfigError(f"{self.name}: {what} subjects {unknown} not in the "
                              f"data (subjects: {_ranges(sorted(known))})")
        return ids


def _ranges(ids: Sequence[int]) -> str:
    """Compact text for sorted ints: ``[1, 2, 3, 7]`` -> ``"1-3, 7"``."""
    parts, i = [], 0
    while i < len(ids):
        j = i
        while j + 1 < len(ids) and ids[j + 1] == ids[j] + 1:
            j += 1
        parts.append(str(ids[i]) if i == j else f"{ids[i]}-{ids[j]}")
        i = j + 1
    return ", ".join(parts)
