"""Data for a run: who pretrains, who is streamed, what is held out, in which order.

:func:`prepare` turns a recipe's ``data:`` block into a :class:`Prepared` set of windows:

* **roles.** Source subjects pretrain off-chip; target subjects are the new wearers whose
  windows arrive on-line. A data source records its split in ``meta``
  (``source_subjects`` / ``target_subjects``: ``synthetic_har`` draws
  ``data.source_subjects`` + ``data.target_subjects`` subjects, ``digits`` marks its
  training images as the source, UCI HAR its train/test subjects); otherwise the last
  ``target_subjects`` subject ids are targets and the others sources; both roles keep at most
  the configured count. A file with one subject only is split by bouts: half its bouts
  pretrain, the other half are the target stream.
* **held out.** Each role is split by bout (:meth:`WindowDataset.train_test_split`,
  ``data.test_fraction``; the targets by ``data.target_test_fraction`` when it is set):
  source test windows give the software accuracy, target test windows give the deployed
  and adapted accuracies and are never streamed. With ``pretrain.val_fraction`` > 0 the
  source training windows are split once more, by bout, into the windows the optimiser
  fits (``source_train``) and validation windows (``source_val``: early stopping).
* **order.** The target stream is the targets' remaining windows in arrival order
  (``given``), in bouts of one activity (``bouts``: kept when the arrival order already has
  them, else built from runs of one class, 3-12 windows long) or shuffled.
* **shape.** Channels, classes and window length come from the data. A network kind may need
  window lengths that are a multiple of some m (a spiking net cuts a window into T =
  ``model.snn.timesteps`` chunks); other lengths are stretched in time (nearest sample) to
  the next multiple; ``W < m`` repeats samples (a static input such as a digit is shown at
  every step).
* **scale.** With ``data.standardize`` every channel is z-scored with the statistics of
  the source training windows (``source_train`` and ``source_val`` together)
  (a channel constant over the source keeps scale 1, others are scaled by at least a
  tenth of the median channel's spread: see :func:`safe_scale`).

Everything is seeded by the recipe seed; the same recipe always gives the same windows.

Example:
    >>> from snnx.pipeline.recipe_files import load_recipe
    >>> r = load_recipe("har_dfa", ["data.synthetic_har.windows_per_activity=4",
    ...                             "data.source_subjects=2"])
    >>> p = prepare(r)
    >>> p.n_channels, p.n_classes, p.window
    (9, 6, 128)
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np

from snnx.config.seeds import derive, sequence
from snnx.data.dataset import WindowDataset
from snnx.data.registry import DATASETS, DataRequest
from snnx.errors import ConfigError
from snnx.nn import MODELS

log = logging.getLogger(__name__)

BOUT_WINDOWS = (3, 12)
"""Windows per built bout (``bouts`` order of data without natural bouts), inclusive."""


@dataclasses.dataclass(frozen=True, eq=False)
class Prepared:
    """The windows of one run, standardized and shaped for the model.

    Attributes:
        source_train: pretraining windows (the ones the optimiser fits).
        source_test: held-out source windows (software accuracy).
        stream: target windows in base stream order (row order = arrival order).
        target_test: held-out target windows (deployed and adapted accuracy).
        mean, std: (C,) channel statistics applied (zeros / ones without standardizing).
        raw_window: window length in the data, before any stretch.
        info: facts for report.json (counts, subjects, source of the data).
        source_val: validation windows of pretraining (None with ``pretrain.val_fraction``
            0 or too few windows).
    """

    source_train: WindowDataset
    source_test: WindowDataset
    stream: WindowDataset
    target_test: WindowDataset
    mean: np.ndarray
    std: np.ndarray
    raw_window: int
    info: dict
    source_val: WindowDataset | None = None

    @property
    def window(self) -> int:
        """Samples per window the model sees (after a stretch, if any)."""
        return self.stream.window_len

    @property
    def n_channels(self) -> int:
        """Channels per sample."""
        return self.stream.n_channels

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return self.stream.n_classes


def _load(recipe: Any) -> WindowDataset:
    d, params = recipe.data, recipe.data_params
    request = DataRequest(recipe.seed, d.source_subjects, d.target_subjects)
    try:
        return DATASETS.get(d.kind)(params, request)
    except ConfigError as e:
        msg = str(e)
        if msg.startswith("data."):
            raise
        key = f"data.{d.kind}.path" if hasattr(params, "path") else f"data.{d.kind}"
        return _raise(f"{key}: {msg}")


def _raise(msg: str) -> Any:
    raise ConfigError(msg)


def _roles(ds: WindowDataset, recipe: Any) -> tuple[WindowDataset, WindowDataset]:
    """(source, target) datasets following the rules of the module docstring."""
    d = recipe.data
    subjects = [int(s) for s in ds.subjects]
    meta_src, meta_tgt = ds.meta.get("source_subjects"), ds.meta.get("target_subjects")
    if meta_src and meta_tgt:
        src = [int(s) for s in meta_src if int(s) in subjects][:d.source_subjects]
        tgt = [int(s) for s in meta_tgt if int(s) in subjects][:d.target_subjects]
        if src and tgt:
            return ds.split_by_subject(src, tgt)
    if len(subjects) >= 2:
        n_tgt = min(d.target_subjects, len(subjects) - 1)
        tgt = subjects[-n_tgt:]
        src = subjects[:-n_tgt][:d.source_subjects]
        return ds.split_by_subject(src, tgt)
    log.warning("data: one subject only; half of its bouts pretrain, the other half are "
                "the target stream")
    return _halves(ds, 0.5, derive(recipe.seed, "data.one_subject"), f"data.{d.kind}",
                   "split one subject into source and target")


def _halves(ds: WindowDataset, frac: float, seed: int, key: str, what: str
            ) -> tuple[WindowDataset, WindowDataset]:
    """A stratified split by bout; by window when some class has a single bout."""
    for by in ("bout", "window"):
        try:
            return ds.train_test_split(frac, seed, by=by)
        except ConfigError as e:  # a side came out empty
            err = e
    return _raise(f"{key}: too few windows to {what} ({err})")


def _split(ds: WindowDataset, frac: float, seed: int, what: str,
           key: str = "data.test_fraction") -> tuple[WindowDataset, WindowDataset]:
    return _halves(ds, frac, seed, key, f"hold out {what} windows")


def _validation(ds: WindowDataset, recipe: Any) -> tuple[WindowDataset, WindowDataset | None]:
    """(fit, validation) windows of pretraining; no validation set when
    ``pretrain.val_fraction`` is 0 or a class has a single window (a warning)."""
    frac = recipe.pretrain.val_fraction
    if frac <= 0:
        return ds, None
    try:
        return _split(ds, frac, derive(recipe.seed, "pretrain.val_split"), "validation",
                      "pretrain.val_fraction")
    except ConfigError as e:
        log.warning("pretraining runs without validation windows (%s)", e)
        return ds, None


def _arrival(ds: WindowDataset) -> WindowDataset:
    """Windows of each subject in arrival order, subjects one after another."""
    idx = np.lexsort((np.arange(len(ds)), ds.t, ds.subject))
    return ds.subset(idx)


def build_bouts(y: np.ndarray, rng: np.random.Generator,
                lengths: tuple[int, int] = BOUT_WINDOWS) -> np.ndarray:
    """An order of ``range(len(y))`` in runs of one class: each class's windows keep their
    arrival order, and no class follows itself while another class has windows left.

    Args:
        y: (N,) labels in arrival order.
        rng: numpy generator drawing run lengths and which class comes next.
        lengths: inclusive range of windows per run.

    Returns:
        (N,) int64 permutation.
    """
    queues = {int(k): list(np.flatnonzero(y == k)) for k in np.unique(y)}
    out: list[np.ndarray] = []
    last = None
    while queues:
        classes = sorted(queues)
        choice = [k for k in classes if k != last] or classes
        k = choice[int(rng.integers(len(choice)))]
        n = int(rng.integers(lengths[0], lengths[1] + 1))
        out.append(np.asarray(queues[k][:n], np.int64))
        del queues[k][:n]
        if not queues[k]:
            del queues[k]
        last = k
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def stream_order(ds: WindowDataset, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Order of the rows of an arrival-ordered ``ds`` for ``given`` / ``bouts`` / ``shuffled``.

    ``bouts`` keeps the arrival order when its runs of one label are already 2 windows long
    on average, else builds runs (:func:`build_bouts`).
    """
    n = len(ds)
    if kind == "given":
        return np.arange(n, dtype=np.int64)
    if kind == "shuffled":
        return rng.permutation(n).astype(np.int64)
    runs = 1 + int(np.count_nonzero(ds.y[1:] != ds.y[:-1]))
    if n / runs >= 2.0:
        return np.arange(n, dtype=np.int64)
    return build_bouts(ds.y, rng)


def safe_scale(std: np.ndarray, floor: float = 0.1) -> np.ndarray:
    """Channel scales for z-scoring that never blow a channel up.

    A channel constant over the source carries nothing the model learnt from: it keeps
    scale 1 (as sklearn's StandardScaler does). Any other channel's scale is at least
    ``floor`` times the median channel's, so a nearly constant source channel (a digit pixel
    that is almost never on) cannot turn a target value into a huge input.
    """
    std = np.asarray(std, np.float64)
    const = std <= 1e-6 * max(1.0, float(std.max()))
    live = std[~const]
    low = floor * float(np.median(live)) if live.size else 0.0
    return np.where(const, 1.0, np.maximum(std, low)).astype(np.float32)


def _stretch(ds: WindowDataset, length: int) -> WindowDataset:
    """Windows resampled in time to ``length`` samples (nearest sample, no new values)."""
    idx = (np.arange(length) * ds.window_len) // length
    return dataclasses.replace(ds, X=ds.X[:, idx, :])


def prepare(recipe: Any) -> Prepared:
    """Load, split, order, stretch and standardize the data of ``recipe``.

    Raises:
        ConfigError: ``data.<key>: ...`` (unreadable or malformed file, too few windows for
            the split, unknown subjects).
    """
    d = recipe.data
    ds = _load(recipe)
    src, tgt = _roles(ds, recipe)
    src_train, src_test = _split(src, d.test_fraction, derive(recipe.seed, "data.source_split"),
                                 "source")
    t_frac, t_key = ((d.test_fraction, "data.test_fraction") if d.target_test_fraction is None
                     else (d.target_test_fraction, "data.target_test_fraction"))
    tgt_stream, tgt_test = _split(tgt, t_frac, derive(recipe.seed, "data.target_split"),
                                  "target", t_key)
    src_fit, src_val = _validation(src_train, recipe)
    tgt_stream = _arrival(tgt_stream)
    order = stream_order(tgt_stream, d.stream_order,
                         np.random.default_rng(sequence(recipe.seed, "data.stream_order")))
    tgt_stream = tgt_stream.subset(order)
    raw = ds.window_len
    parts = [src_fit, src_test, tgt_stream, tgt_test]
    if src_val is not None:
        parts.append(src_val)
    fitted = src_train  # standardisation statistics: every source training window
    T = MODELS.get(recipe.model.kind).window_multiple(recipe.model_params)
    if raw % T:
        length = -(-raw // T) * T
        log.info("data: window length %d is not a multiple of %d (model.%s); windows are "
                 "stretched in time to %d samples", raw, T, recipe.model.kind, length)
        parts = [_stretch(p, length) for p in parts]
        fitted = _stretch(fitted, length)
    if d.standardize:
        mean, std = fitted.channel_stats()
        std = safe_scale(std)
        parts = [p.standardized(mean, std) for p in parts]
    else:
        mean = np.zeros(ds.n_channels, np.float32)
        std = np.ones(ds.n_channels, np.float32)
    info = {"kind": d.kind, "path": getattr(recipe.data_params, "path", None),
            "windows": len(ds), "window": raw,
            "model_window": parts[0].window_len, "channels": ds.n_channels,
            "classes": list(ds.classes), "source_subjects": [int(s) for s in src.subjects],
            "target_subjects": [int(s) for s in tgt.subjects],
            "source_train": len(parts[0]), "source_test": len(parts[1]),
            "source_val": len(parts[4]) if src_val is not None else 0,
            "stream": len(parts[2]), "target_test": len(parts[3]),
            "stream_order": d.stream_order}
    log.info("data: %d held-out target windows (one window = %.2f accuracy points)",
             len(parts[3]), 100.0 / len(parts[3]))
    return Prepared(*parts[:4], mean=mean, std=std, raw_window=raw, info=info,
                    source_val=parts[4] if src_val is not None else None)


def label_mask(n: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """(n,) bool: which of ``n`` windows carry a label, each with probability ``rate``
    (all of them when ``rate`` is 1)."""
    if rate >= 1.0:
        return np.ones(n, bool)
    return rng.random(n) < rate
