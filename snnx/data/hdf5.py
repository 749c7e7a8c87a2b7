"""Read and write the generic HDF5 data layout of DESIGN.md ("Data layout").

One file holds one dataset::

    /X         float32 (N, T, C)   windows (any real dtype is read and cast to float32)
    /y         int64   (N,)        class index, 0 .. len(classes) - 1
    /subject   int64   (N,)        optional, subject id per window
    /t         (N,)                optional, order of arrival (any real dtype)
    attrs:     classes          list of class names (required)
               sample_rate_hz   Hz along T (required)
               channel_names    list of C names (optional)
               meta             JSON object, e.g. {"source_subjects": [..], ...} (optional)

Any N, T, C and number of classes work. Every problem is a :class:`~snnx.errors.ConfigError`
whose message starts with the file path, e.g.
``data.h5: /y has 9 rows but /X has 10``.

Example:
    >>> import os, tempfile
    >>> from snnx.data import synthetic_har
    >>> path = os.path.join(tempfile.mkdtemp(), "har.h5")
    >>> _ = save_hdf5(synthetic_har(n_source=1, n_target=0, windows_per_activity=2), path)
    >>> load_hdf5(path).X.shape
    (12, 128, 9)
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import dataclasses

import h5py
import numpy as np

from snnx.config.schema import KW, spec
from snnx.data.dataset import WindowDataset, validate_arrays
from snnx.errors import ConfigError

log = logging.getLogger(__name__)


def save_hdf5(ds: WindowDataset, path: str | os.PathLike, *, compression: str | None = "gzip"
              ) -> Path:
    """Write ``ds`` in the generic layout, atomically (temporary file, then rename).

    Args:
        ds: the dataset.
        path: destination file; parent folders are created.
        compression: h5py compression filter for /X ("gzip", "lzf" or None).

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("X", data=ds.X, compression=compression,
                             chunks=(min(len(ds), 256), ds.window_len, ds.n_channels))
            f.create_dataset("y", data=ds.y.astype(np.int64))
            f.create_dataset("subject", data=ds.subject.astype(np.int64))
            f.create_dataset("t", data=ds.t)
            f.attrs["classes"] = np.array(ds.classes, dtype=h5py.string_dtype())
            f.attrs["channel_names"] = np.array(ds.channel_names, dtype=h5py.string_dtype())
            f.attrs["sample_rate_hz"] = float(ds.sample_rate_hz)
            if ds.meta:
                f.attrs["meta"] = json.dumps(ds.meta, default=_jsonable)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    log.info("wrote %s: %d windows of %d x %d", path, len(ds), ds.window_len, ds.n_channels)
    return path


def load_hdf5(path: str | os.PathLike) -> WindowDataset:
    """Read and validate a file in the generic layout.

    Args:
        path: the HDF5 file.

    Returns:
        WindowDataset named after the path.

    Raises:
        ConfigError: the file is missing or not HDF5, /X or /y is missing, an array has the
            wrong rank or row count, labels are outside ``classes``, values are non-finite,
            or a required attribute is missing. The message starts with the path.
    """
    src = str(path)
    if not Path(path).is_file():
        raise ConfigError(f"{src}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ConfigError(f"{src}: not a readable HDF5 file ({e})") from None
    with f:
        arrays = {}
        for key in ("X", "y", "subject", "t"):
            if key not in f:
                if key in ("X", "y"):
                    what = "float32 (N, T, C) windows" if key == "X" else "int64 (N,) labels"
                    raise ConfigError(f"{src}: missing dataset /{key} ({what})")
                continue
            node = f[key]
            if not isinstance(node, h5py.Dataset):
                raise ConfigError(f"{src}: /{key} must be a dataset, found a group")
            arrays[key] = node[()]
        classes = _str_list(f.attrs, "classes", src)
        if "sample_rate_hz" not in f.attrs:
            raise ConfigError(f"{src}: missing attribute 'sample_rate_hz' (Hz along T)")
        rate = _number(f.attrs["sample_rate_hz"], "sample_rate_hz", src)
        channel_names = (_str_list(f.attrs, "channel_names", src)
                         if "channel_names" in f.attrs else None)
        meta = _meta(f.attrs, src)
    X, y = np.asarray(arrays["X"]), _labels(np.asarray(arrays["y"]), src, "y")
    subject = arrays.get("subject")
    subject = None if subject is None else _labels(np.asarray(subject), src, "subject")
    t = arrays.get("t")
    validate_arrays(src, X, y, subject, None if t is None else np.asarray(t), len(classes),
                    prefix="/")
    if channel_names is not None and len(channel_names) != X.shape[2]:
        raise ConfigError(f"{src}: attribute 'channel_names' has {len(channel_names)} names "
                          f"but /X has {X.shape[2]} channels")
    if not rate > 0:
        raise ConfigError(f"{src}: attribute 'sample_rate_hz' must be > 0, got {rate}")
    return WindowDataset(X=X, y=y, subject=subject, t=t, classes=classes, sample_rate_hz=rate,
                         channel_names=channel_names, meta=meta, name=src)


# ---- helpers ---------------------------------------------------------------------------
def _labels(a: np.ndarray, src: str, key: str) -> np.ndarray:
    """Integer array from /y or /subject; floats are accepted only when integral."""
    if a.dtype.kind in "iu":
        return a.astype(np.int64)
    if a.dtype.kind == "f" and np.isfinite(a).all() and (a == np.round(a)).all():
        return a.astype(np.int64)
    raise ConfigError(f"{src}: /{key} must hold integers, got dtype {a.dtype}"
                      + (" with non-integral values" if a.dtype.kind == "f" else ""))


def _str_list(attrs: Any, key: str, src: str) -> list[str]:
    if key not in attrs:
        raise ConfigError(f"{src}: missing attribute '{key}' (list of names)")
    raw = np.atleast_1d(attrs[key])
    if raw.dtype.kind not in "OSU":
        raise ConfigError(f"{src}: attribute '{key}' must be a list of strings, got {raw!r}")
    return [v.decode() if isinstance(v, bytes) else str(v) for v in raw.tolist()]


def _number(v: Any, key: str, src: str) -> float:
    try:
        x = float(np.asarray(v).reshape(()))
    except (TypeError, ValueError):
        raise ConfigError(f"{src}: attribute '{key}' must be a number, got {v!r}") from None
    if not np.isfinite(x):
        raise ConfigError(f"{src}: attribute '{key}' must be finite, got {x}")
    return x


def _meta(attrs: Any, src: str) -> dict:
    if "meta" not in attrs:
        return {}
    raw = attrs["meta"]
    raw = raw.decode() if isinstance(raw, bytes) else str(raw)
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{src}: attribute 'meta' is not valid JSON ({e})") from None
    if not isinstance(meta, dict):
        raise ConfigError(f"{src}: attribute 'meta' must be a JSON object")
    return meta


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"meta value {v!r} is not JSON-serialisable")


@dataclasses.dataclass(**KW)
class Params:
    """Recipe parameters of hdf5 (``data.hdf5``)."""

    path: str = spec(doc="the HDF5 file in the generic layout (DESIGN.md, datasets/README.md)")

    def __post_init__(self) -> None:
        if not Path(self.path).expanduser().is_file():
            raise ConfigError(f"path: file not found: {self.path}")


def open_dataset(params: Params, request: Any) -> WindowDataset:
    """The file of a recipe (registry entry ``hdf5``)."""
    return load_hdf5(Path(params.path).expanduser())
