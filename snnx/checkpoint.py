"""HDF5 checkpoints, written atomically.

A checkpoint is a nested mapping of tensors, arrays, numbers, strings, booleans, None and
lists/tuples of those (a model's tiles with conductances, faults and variation, rule state,
optimiser state, RNG states, the step, the resolved config). :func:`save` writes it to
``<path>.tmp`` and renames it over ``path`` (``os.replace`` is atomic on POSIX), so a crash
never leaves a half-written checkpoint under the real name. :func:`load` rebuilds the same
structure (tensors come back as torch tensors with their dtype).

Layout inside the file: one HDF5 group per mapping, one dataset per array/tensor, scalars as
0-d datasets; the Python type needed to rebuild each node is kept in an attribute
``snnx_type`` (``tensor``, ``ndarray``, ``int``, ``float``, ``bool``, ``str``, ``none``,
``list``, ``tuple``, ``dict``). Keys named in ``SECRET_KEYS`` are refused: secrets (encryption
keys) never go into checkpoints in clear.

Example:
    >>> import torch, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "ck.h5")
    >>> save(p, {"step": 3, "tile": {"G": torch.ones(2, 2)}})
    >>> load(p)["tile"]["G"].sum().item()
    4.0
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from snnx.errors import SnnxError

SECRET_KEYS = ("key", "secret", "password", "puf_seed")
FORMAT = "snnx-checkpoint-1"


class CheckpointError(SnnxError, ValueError):
    """A checkpoint cannot be written or read (missing, corrupt, wrong format)."""


def _esc(key: str) -> str:
    """HDF5 names cannot hold '/': escape it (and the escape character)."""
    return key.replace("%", "%25").replace("/", "%2F")


def _unesc(name: str) -> str:
    return name.replace("%2F", "/").replace("%25", "%")


def _write(group: h5py.Group, name: str, value: Any, path: str) -> None:
    if name.lower() in SECRET_KEYS:
        raise CheckpointError(f"{path}{name}: refusing to store a secret in a checkpoint")
    if isinstance(value, dict):
        g = group.create_group(name)
        g.attrs["snnx_type"] = "dict"
        for k, v in value.items():
            if not isinstance(k, str):
                raise CheckpointError(f"{path}{name}: keys must be strings, got {k!r}")
            _write(g, _esc(k), v, f"{path}{name}/")
    elif isinstance(value, (list, tuple)):
        g = group.create_group(name)
        g.attrs["snnx_type"] = "list" if isinstance(value, list) else "tuple"
        g.attrs["length"] = len(value)
        for i, v in enumerate(value):
            _write(g, str(i), v, f"{path}{name}/")
    elif isinstance(value, torch.Tensor):
        arr = value.detach().cpu()
        if arr.dtype == torch.bfloat16:
            arr = arr.float()
        # masks and integer states compress well; float states (conductances, random-number
        # pools) hardly do, and gzip on them only slows every checkpoint down
        packed = arr.numel() > 4096 and not arr.is_floating_point()
        ds = group.create_dataset(name, data=arr.numpy(), compression="gzip" if packed else None,
                                  compression_opts=1 if packed else None)
        ds.attrs["snnx_type"] = "tensor"
        ds.attrs["torch_dtype"] = str(value.dtype).replace("torch.", "")
    elif isinstance(value, np.ndarray):
        ds = group.create_dataset(name, data=value)
        ds.attrs["snnx_type"] = "ndarray"
    elif value is None:
        ds = group.create_dataset(name, data=np.zeros(0))
        ds.attrs["snnx_type"] = "none"
    elif isinstance(value, bool):
        ds = group.create_dataset(name, data=np.bool_(value))
        ds.attrs["snnx_type"] = "bool"
    elif isinstance(value, int):
        if abs(value) >= 1 << 63:  # e.g. 64-bit RNG states: keep exact as text
            ds = group.create_dataset(name, data=str(value))
            ds.attrs["snnx_type"] = "bigint"
        else:
            ds = group.create_dataset(name, data=np.int64(value))
            ds.attrs["snnx_type"] = "int"
    elif isinstance(value, float):
        ds = group.create_dataset(name, data=np.float64(value))
        ds.attrs["snnx_type"] = "float"
    elif isinstance(value, str):
        ds = group.create_dataset(name, data=value)
        ds.attrs["snnx_type"] = "str"
    else:
        raise CheckpointError(f"{path}{name}: cannot store a {type(value).__name__}")


def _read(node: h5py.Group | h5py.Dataset) -> Any:
    kind = node.attrs.get("snnx_type")
    if kind == "dict":
        return {_unesc(k): _read(node[k]) for k in node.keys()}
    if kind in ("list", "tuple"):
        items = [_read(node[str(i)]) for i in range(int(node.attrs["length"]))]
        return items if kind == "list" else tuple(items)
    if kind == "tensor":
        t = torch.from_numpy(np.array(node[()]))
        want = getattr(torch, str(node.attrs["torch_dtype"]))
        return t.to(want)
    if kind == "ndarray":
        return np.array(node[()])
    if kind == "none":
        return None
    if kind == "bool":
        return bool(node[()])
    if kind == "int":
        return int(node[()])
    if kind == "bigint":
        return int(node[()].decode() if isinstance(node[()], bytes) else node[()])
    if kind == "float":
        return float(node[()])
    if kind == "str":
        v = node[()]
        return v.decode() if isinstance(v, bytes) else str(v)
    raise CheckpointError(f"{node.name}: unknown node type {kind!r}")


def save(path: str | Path, state: dict) -> None:
    """Write ``state`` to ``path`` atomically (temporary file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            for k, v in state.items():
                _write(f, k, v, "")
            f.flush()
        with open(tmp, "rb") as fh:  # make the bytes durable before the rename
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise


def load(path: str | Path) -> dict:
    """Read a checkpoint written by :func:`save`.

    Raises:
        CheckpointError: missing file, not HDF5, truncated/corrupt, or not an snnx checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint: file not found: {path}")
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                raise CheckpointError(f"checkpoint: {path} is not an snnx checkpoint")
            return {k: _read(f[k]) for k in f.keys()}
    except CheckpointError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"checkpoint: {path} is corrupt or unreadable "
                              f"({e.__class__.__name__})") from None


def latest(folder: str | Path, pattern: str = "*.h5") -> Path | None:
    """The newest complete checkpoint in ``folder`` (by name order; ``.tmp`` files ignored)."""
    files = sorted(p for p in Path(folder).glob(pattern) if not p.name.endswith(".tmp"))
    return files[-1] if files else None
