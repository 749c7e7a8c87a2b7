"""HDF5 checkpoints, written atomically, with few HDF5 objects.

A checkpoint is a nested mapping of tensors, arrays, numbers, strings, booleans, None and
lists/tuples of those (a model's tiles with conductances, faults and variation, rule state,
optimiser state, RNG states, the step, the resolved config). :func:`save` writes it to
``<path>.tmp`` and renames it over ``path`` (``os.replace`` is atomic on POSIX), so a crash
never leaves a half-written checkpoint under the real name. :func:`load` rebuilds the same
structure: tensors come back as torch tensors with their dtype, and every mapping keeps its
key ORDER (sums over a ledger's dict come out bit-identical after a reload).

Layout (format 2): one HDF5 group per mapping or list that holds a tensor or an array, one
dataset per tensor/array; everything else -- numbers (any size of int, NaN and inf), strings,
booleans, None and containers of only those -- goes into ONE JSON attribute ``plain`` of
its group, and the attribute ``order`` lists the keys in their order. (Format 1, one HDF5
object per scalar, ~0.3 ms each, is still read.) Keys that name a secret
(:mod:`snnx.config.secrets`) are refused: secrets (encryption keys) never go into
checkpoints in clear.

Example:
    >>> import torch, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "ck.h5")
    >>> save(p, {"step": 3, "tile": {"G": torch.ones(2, 2), "n": 7}})
    >>> ck = load(p)
    >>> ck["tile"]["G"].sum().item(), ck["tile"]["n"], list(ck)
    (4.0, 7, ['step', 'tile'])
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from snnx.config.secrets import is_secret
from snnx.errors import SnnxError

FORMAT = "snnx-checkpoint-2"
FORMAT_1 = "snnx-checkpoint-1"
_TUPLE = "\u0000tuple"  # JSON tag of a tuple (a list with this one key in a mapping)


class CheckpointError(SnnxError, ValueError):
    """A checkpoint cannot be written or read (missing, corrupt, wrong format)."""


def _esc(key: str) -> str:
    """HDF5 names cannot hold '/': escape it (and the escape character)."""
    return key.replace("%", "%25").replace("/", "%2F")


def _unesc(name: str) -> str:
    return name.replace("%2F", "/").replace("%25", "%")


def _plain(value: Any, path: str) -> bool:
    """True for a JSON-able value: a scalar, or a container of only those (secret keys and
    non-string keys are refused on the way)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v, path) for v in value)
    if isinstance(value, dict):
        for k in value:
            _check_key(k, path)
        return all(_plain(v, f"{path}{k}/") for k, v in value.items())
    return False


def _check_key(key: Any, path: str) -> None:
    if not isinstance(key, str):
        raise CheckpointError(f"{path}: keys must be strings, got {key!r}")
    if is_secret(key):
        raise CheckpointError(f"{path}{key}: refusing to store a secret in a checkpoint")


def _enc(value: Any) -> Any:
    if isinstance(value, tuple):
        return {_TUPLE: [_enc(v) for v in value]}
    if isinstance(value, list):
        return [_enc(v) for v in value]
    if isinstance(value, dict):
        return {k: _enc(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return {_TUPLE + "float": repr(value)}
    return value


def _dec(value: Any) -> Any:
    if isinstance(value, list):
        return [_dec(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1 and _TUPLE in value:
            return tuple(_dec(v) for v in value[_TUPLE])
        if len(value) == 1 and _TUPLE + "float" in value:
            return float(value[_TUPLE + "float"])
        return {k: _dec(v) for k, v in value.items()}
    return value


def _write_items(g: h5py.Group, items: list[tuple[str, Any]], path: str) -> None:
    """The children of one mapping/list: plain ones as one JSON attribute, the rest as
    datasets or groups; ``order`` keeps their sequence."""
    plain = {}
    for key, value in items:
        if _plain(value, f"{path}{key}/"):
            plain[key] = _enc(value)
        else:
            _write(g, key, value, path)
    g.attrs["order"] = json.dumps([k for k, _ in items])
    if plain:
        g.attrs["plain"] = json.dumps(plain)


def _write(group: h5py.Group, key: str, value: Any, path: str) -> None:
    name = _esc(key)
    if isinstance(value, dict):
        g = group.create_group(name)
        g.attrs["snnx_type"] = "dict"
        for k in value:
            _check_key(k, f"{path}{key}/")
        _write_items(g, list(value.items()), f"{path}{key}/")
    elif isinstance(value, (list, tuple)):
        g = group.create_group(name)
        g.attrs["snnx_type"] = "list" if isinstance(value, list) else "tuple"
        _write_items(g, [(str(i), v) for i, v in enumerate(value)], f"{path}{key}/")
    elif isinstance(value, torch.Tensor):
        arr = value.detach().cpu()
        if arr.dtype == torch.bfloat16:
            arr = arr.float()
        # masks and integer states compress well; float states (conductances) hardly do,
        # and gzip on them only slows every checkpoint down
        packed = arr.numel() > 4096 and not arr.is_floating_point()
        ds = group.create_dataset(name, data=arr.numpy(), compression="gzip" if packed else None,
                                  compression_opts=1 if packed else None)
        ds.attrs["snnx_type"] = "tensor"
        ds.attrs["torch_dtype"] = str(value.dtype).replace("torch.", "")
    elif isinstance(value, np.ndarray):
        ds = group.create_dataset(name, data=value)
        ds.attrs["snnx_type"] = "ndarray"
    else:
        raise CheckpointError(f"{path}{key}: cannot store a {type(value).__name__}")


def _read_items(g: h5py.Group) -> list[tuple[str, Any]]:
    plain = json.loads(g.attrs["plain"]) if "plain" in g.attrs else {}
    return [(k, _dec(plain[k]) if k in plain else _read(g[_esc(k)]))
            for k in json.loads(g.attrs["order"])]


def _read(node: h5py.Group | h5py.Dataset) -> Any:
    kind = node.attrs.get("snnx_type")
    if kind in ("dict", "list", "tuple") and "order" in node.attrs:
        items = _read_items(node)
        if kind == "dict":
            return dict(items)
        return [v for _, v in items] if kind == "list" else tuple(v for _, v in items)
    if kind == "dict":  # format 1
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
            for k in state:
                _check_key(k, "")
            _write_items(f, list(state.items()), "")
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
            fmt = f.attrs.get("format")
            if fmt == FORMAT:
                return dict(_read_items(f))
            if fmt == FORMAT_1:
                return {k: _read(f[k]) for k in f.keys()}
            raise CheckpointError(f"checkpoint: {path} is not an snnx checkpoint")
    except CheckpointError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"checkpoint: {path} is corrupt or unreadable "
                              f"({e.__class__.__name__})") from None


def latest(folder: str | Path, pattern: str = "*.h5") -> Path | None:
    """The newest complete checkpoint in ``folder`` (by name order; ``.tmp`` files ignored)."""
    files = sorted(p for p in Path(folder).glob(pattern) if not p.name.endswith(".tmp"))
    return files[-1] if files else None
