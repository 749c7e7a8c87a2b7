"""Strict, schema-driven construction of frozen dataclass configs.

Used by the hardware models (:mod:`snnx.hw.config`) and the recipes (:mod:`snnx.recipes`).
Imports only the standard library and PyYAML.

A config class is a ``@dataclass(frozen=True, kw_only=True)`` whose fields may carry
metadata built with :func:`spec`:

    g_min: float = spec(2e-6, lo=0, lo_open=True, doc="S, low conductance")

:func:`build` turns a nested mapping into an instance, checking unknown keys (with a
"did you mean"), types, ranges and choices, and naming the dotted key path in every error.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.util
import math
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from snnx.errors import ConfigError

_MISSING = dataclasses.MISSING


def spec(
    default: Any = _MISSING,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
    choices: tuple | None = None,
    doc: str = "",
    factory: Any = _MISSING,
) -> Any:
    """A dataclass field with validation metadata.

    Args:
        default: default value (immutable).
        lo, hi: inclusive bounds unless ``lo_open`` / ``hi_open``.
        choices: allowed values (strings are compared exactly).
        doc: one line: unit, range and (for hardware numbers) the source.
        factory: default factory for nested dataclasses.
    """
    meta = {"lo": lo, "hi": hi, "lo_open": lo_open, "hi_open": hi_open, "choices": choices,
            "doc": doc}
    if factory is not _MISSING:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    if origin in (tuple, list):
        return "list"
    return getattr(tp, "__name__", str(tp))


def _suggest(key: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    if close:
        return f"; did you mean '{close[0]}'?"
    return f"; valid keys: {', '.join(sorted(valid))}"


def _coerce(value: Any, tp: Any, path: str) -> Any:
    """Check ``value`` against annotation ``tp``; return the (lightly coerced) value."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, path)
            except ConfigError as e:
                errors.append(e)
        raise ConfigError(f"{path}: expected {_type_name(tp)}, got {value!r}")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a mapping of {tp.__name__} keys, got {value!r}")
        return build(tp, value, path)
    if origin is typing.Literal:
        args = typing.get_args(tp)
        if value not in args:
            raise ConfigError(f"{path}: {value!r} is not one of {', '.join(map(str, args))}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        args = typing.get_args(tp)
        inner = args[0] if args else Any
        return tuple(_coerce(v, inner, f"{path}[{i}]") for i, v in enumerate(value))
    if origin in (dict, Mapping) or tp in (dict,):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a mapping, got {value!r}")
        return types.MappingProxyType(dict(value))
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{path}: expected a finite number, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{path}: unsupported type {tp!r}")  # pragma: no cover - schema bug


def _check_meta(value: Any, meta: Mapping, path: str) -> None:
    if value is None:
        return
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(f"{path}: {value!r} is not one of {', '.join(map(str, choices))}")
    lo, hi = meta.get("lo"), meta.get("hi")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        lo_open, hi_open = meta.get("lo_open", False), meta.get("hi_open", False)
        bad_lo = lo is not None and (value <= lo if lo_open else value < lo)
        bad_hi = hi is not None and (value >= hi if hi_open else value > hi)
        if bad_lo or bad_hi:
            left = "(" if lo_open else "["
            right = ")" if hi_open else "]"
            rng = f"{left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}"
            raise ConfigError(f"{path}: {value!r} is out of range {rng}")


def build(cls: type, data: Mapping[str, Any] | None, path: str = "") -> Any:
    """Build a frozen dataclass ``cls`` from a nested mapping, strictly.

    Raises:
        ConfigError: unknown key (with the closest valid name), wrong type, value out of
            range or not among the choices. The message starts with the dotted key path.
    """
    data = {} if data is None else data
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path or '<root>'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in data.items():
        kpath = f"{path}.{key}" if path else str(key)
        if key not in fields:
            raise ConfigError(f"{kpath}: unknown key{_suggest(str(key), list(fields))}")
        f = fields[key]
        v = _coerce(value, hints[key], kpath)
        _check_meta(v, f.metadata, kpath)
        kwargs[key] = v
    for name, f in fields.items():
        if name not in kwargs and f.default is _MISSING and f.default_factory is _MISSING:
            kpath = f"{path}.{name}" if path else name
            raise ConfigError(f"{kpath}: required key is missing")
    try:
        obj = cls(**kwargs)
    except ConfigError as e:
        if path and not str(e).startswith(path):
            raise ConfigError(f"{path}.{e}") from None
        raise
    return obj


def to_dict(obj: Any) -> Any:
    """A frozen config as plain nested dicts/lists (YAML-serialisable)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (tuple, list)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, Mapping):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def set_path(data: dict, dotted: str, value: Any) -> dict:
    """Return a deep copy of nested dict ``data`` with ``dotted`` key set to ``value``."""
    import copy

    out = copy.deepcopy(data)
    parts = dotted.split(".")
    if not all(parts):
        raise ConfigError(f"{dotted}: malformed key path")
    node = out
    for i, p in enumerate(parts[:-1]):
        nxt = node.get(p)
        if nxt is None:
            nxt = {}
            node[p] = nxt
        elif not isinstance(nxt, dict):
            raise ConfigError(f"{'.'.join(parts[:i + 1])}: is not a section, cannot set {dotted}")
        node = nxt
    node[parts[-1]] = value
    return out


def field_docs(cls: type, prefix: str = "") -> list[tuple[str, Any, str]]:
    """(dotted key, default, doc) for every leaf field of ``cls`` (for docs and `hw show`)."""
    rows = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            rows.extend(field_docs(tp, key + "."))
        else:
            default = f.default if f.default is not _MISSING else None
            rows.append((key, default, f.metadata.get("doc", "")))
    return rows


def shipped_dir(folder: str, package: str) -> Path | None:
    """A data folder shipped with snnx: ``<repo>/<folder>`` in a source checkout or editable
    install, else the installed data-only package ``package`` (e.g. ``snnx.presets``)."""
    root = Path(__file__).resolve().parents[1]
    if (root / folder).is_dir() and (root / "pyproject.toml").is_file():
        return root / folder
    try:
        found = importlib.util.find_spec(package)
    except ModuleNotFoundError:
        return None
    locations = list(getattr(found, "submodule_search_locations", None) or [])
    return Path(locations[0]) if locations else None
