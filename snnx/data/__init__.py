"""snnx.data: windows for pretraining and on-line adaptation.

Every source returns a :class:`WindowDataset` (X (N, T, C) float32, y, subject, t, classes,
sample_rate_hz, channel_names), the in-memory twin of the generic HDF5 layout of DESIGN.md.

Sources (:data:`DATASETS`, opened by :func:`load_dataset` as a recipe would):

* ``synthetic_har``: UCI-HAR-shaped synthetic windows with subject shifts, the offline
  default (:func:`synthetic_har`);
* ``uci_har``: a user's copy of the UCI HAR Dataset folder (:func:`load_uci_har`);
* ``hdf5``: any data in the generic layout (:func:`load_hdf5`, :func:`save_hdf5`);
* ``digits``: scikit-learn's 8x8 digits (:func:`load_digits_dataset`).

Example:
    >>> from snnx.data import load_dataset
    >>> ds = load_dataset("synthetic_har", {"windows_per_activity": 6}, seed=0,
    ...                   source_subjects=2, target_subjects=1)
    >>> source, target = ds.source_target()
    >>> target.stream(3).y.shape
    (36,)
"""

from snnx.data.commands import convert_uci, info, summarize
from snnx.data.dataset import (HAR_CHANNELS, HAR_CLASSES, HAR_SAMPLE_RATE_HZ, WindowDataset,
                               validate_arrays)
from snnx.data.digits import load_digits_dataset
from snnx.data.har_synth import HarSynthConfig, ShiftRanges, synthetic_har
from snnx.data.hdf5 import load_hdf5, save_hdf5
from snnx.data.registry import DATASETS, DataRequest, load_dataset
from snnx.data.uci_har import find_uci_root, load_uci_har

__all__ = [
    "DATASETS", "DataRequest", "HAR_CHANNELS", "HAR_CLASSES", "HAR_SAMPLE_RATE_HZ", "HarSynthConfig",
    "ShiftRanges", "WindowDataset", "convert_uci", "find_uci_root", "info", "load_dataset",
    "load_digits_dataset", "load_hdf5", "load_uci_har", "save_hdf5", "summarize",
    "synthetic_har", "validate_arrays",
]
