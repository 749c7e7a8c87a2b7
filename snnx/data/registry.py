"""The dataset registry: recipe name of a data source -> the function that opens it.

A recipe's ``data:`` block names a ``kind``; the kind's own parameters sit beside it under
its name, e.g.::

    data: {kind: synthetic_har, synthetic_har: {windows_per_activity: 60}}
    data: {kind: hdf5, hdf5: {path: my_windows.h5}}
    data: {kind: uci_har, uci_har: {path: "~/data/UCI HAR Dataset"}}
    data: {kind: digits}

An entry is a module with ``Params`` and ``open_dataset(params, request) ->
WindowDataset``; ``request`` (:class:`DataRequest`) carries the recipe seed and subject
counts. A new source is one module plus one line in :data:`DATASETS`. The plain loaders
(:func:`~snnx.data.har_synth.synthetic_har`, :func:`~snnx.data.hdf5.load_hdf5` ...) stay
the Python API.

Example:
    >>> load_dataset("digits", seed=1).X.shape
    (1797, 1, 64)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from snnx.config.registry import Registry
from snnx.data.dataset import WindowDataset

DATASETS = Registry("dataset", {
    "synthetic_har": ("snnx.data.har_synth:open_dataset",
                      "UCI-HAR-shaped synthetic windows with subject shifts (offline default)"),
    "uci_har": ("snnx.data.uci_har:open_dataset", "a local copy of the UCI HAR Dataset folder"),
    "hdf5": ("snnx.data.hdf5:open_dataset", "any windows in the generic HDF5 layout"),
    "digits": ("snnx.data.digits:open_dataset", "scikit-learn's 8x8 digits (ships with it)"),
})
"""Recipe name -> ``open_dataset`` function (lazy)."""


@dataclasses.dataclass(frozen=True)
class DataRequest:
    """What a run asks of a data source besides the source's own parameters."""

    seed: int = 0
    source_subjects: int = 8
    target_subjects: int = 1


def load_dataset(kind: str, params: Mapping[str, Any] | Any = None, /, *, seed: int = 0,
                 source_subjects: int = 8, target_subjects: int = 1) -> WindowDataset:
    """Open dataset ``kind`` as a recipe would.

    Args:
        kind: a key of :data:`DATASETS`.
        params: the kind's parameters (a mapping or its ``Params``); None for defaults.
        seed, source_subjects, target_subjects: see :class:`DataRequest`.

    Raises:
        ConfigError: unknown kind (``data.kind: ...``), unknown or bad parameter
            (``data.<kind>.<key>: ...``), or whatever the loader rejects (file path first).
    """
    DATASETS.check(kind, "data.kind")
    p = DATASETS.params(kind, {} if params is None else params, f"data.{kind}")
    return DATASETS.get(kind)(p, DataRequest(seed, source_subjects, target_subjects))
