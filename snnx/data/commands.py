"""Implementations behind ``snnx data info`` and ``snnx data convert`` (wired by the CLI).

Example:
    >>> print(info("datasets/har.h5"))  # doctest: +SKIP
    datasets/har.h5: HDF5 dataset
      windows  N = 5760, T = 128 samples at 50 Hz (2.56 s), C = 9 channels
    ...
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from snnx.data.dataset import WindowDataset, _ranges
from snnx.data.hdf5 import load_hdf5, save_hdf5
from snnx.data.uci_har import load_uci_har
from snnx.errors import ConfigError

log = logging.getLogger(__name__)


def summarize(ds: WindowDataset, title: str) -> str:
    """A few lines for humans: sizes, channels, classes with counts, subjects, split."""
    dur = ds.window_len / ds.sample_rate_hz
    names = ", ".join(ds.channel_names[:12]) + (", ..." if ds.n_channels > 12 else "")
    lines = [
        title,
        f"  windows   N = {len(ds)}, T = {ds.window_len} samples at {ds.sample_rate_hz:g} Hz "
        f"({dur:g} s), C = {ds.n_channels} channels",
        f"  channels  {names}",
        f"  classes   {ds.n_classes}: " + ", ".join(
            f"{c} {n}" for c, n in zip(ds.classes, ds.class_counts())),
    ]
    subjects = ds.subjects
    per = np.array([(ds.subject == s).sum() for s in subjects])
    lines.append(f"  subjects  {subjects.size}: {_ranges(subjects.tolist())} "
                 f"(windows per subject {per.min()}..{per.max()})")
    if "source_subjects" in ds.meta and "target_subjects" in ds.meta:
        lines.append(f"  split     source {_ranges(sorted(ds.meta['source_subjects']))}; "
                     f"target {_ranges(sorted(ds.meta['target_subjects']))}")
    lines.append(f"  values    min {ds.X.min():.4g}, max {ds.X.max():.4g}, "
                 f"mean {ds.X.mean():.4g}")
    return "\n".join(lines)


def info(path: str | os.PathLike) -> str:
    """Describe an HDF5 file in the generic layout or a UCI HAR Dataset folder.

    Args:
        path: an ``.h5`` file or a UCI HAR folder.

    Returns:
        A multi-line human summary (the file is fully validated on the way).

    Raises:
        ConfigError: the path does not exist or is not valid data (message starts with it).
    """
    p = Path(path).expanduser()
    if p.is_dir():
        return summarize(load_uci_har(p), f"{path}: UCI HAR Dataset folder (raw windows)")
    if not p.exists():
        raise ConfigError(f"{path}: no such file or folder")
    return summarize(load_hdf5(p), f"{path}: HDF5 dataset")


def convert_uci(src_folder: str | os.PathLike, dst_h5: str | os.PathLike, *,
                features: str = "raw") -> Path:
    """Convert a UCI HAR Dataset folder into one HDF5 file in the generic layout.

    Args:
        src_folder: the ``UCI HAR Dataset`` folder (or a folder containing it).
        dst_h5: destination file, written atomically.
        features: ``"raw"`` (N, 128, 9) or ``"561"`` (N, 1, 561); see
            :func:`~snnx.data.uci_har.load_uci_har`.

    Returns:
        The path written.
    """
    ds = load_uci_har(src_folder, features=features)
    out = save_hdf5(ds, dst_h5)
    log.info("converted %s -> %s (%d windows)", src_folder, out, len(ds))
    return out
