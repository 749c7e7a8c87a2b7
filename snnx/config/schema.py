"""Strict, schema-driven construction of frozen dataclass configs.

A config class is a ``@dataclass(frozen=True, kw_only=True)`` whose fields carry metadata
built with :func:`spec`::

    g_min: float = spec(2e-6, lo=0, lo_open=True, doc="S, low conductance")

:func:`build` turns a nested mapping into an instance, checking unknown keys (with a "did you
mean"), types, ranges and choices, and naming the dotted key path in every error. Two field
kinds connect a config to a :class:`~snnx.config.registry.Registry`:

* :func:`choice` -- one entry chosen by name (``adapt.rule: dfa``); each entry's parameters
  sit beside it under the entry's name (``adapt.dfa: {feedback: sign}``), validated against
  that entry's ``Params``, and are kept in the class's :func:`blocks` field. The chosen
  entry's block is always filled in; :func:`chosen` returns it.
* :func:`plugins` -- any number of entries, a mapping ``name -> params``
  (``noise.read: {constant: {sigma: 0.01}}``); ``name: null`` switches an entry off.

Imports only the standard library (and snnx.errors / snnx.config.registry).

Example:
    >>> import dataclasses
    >>> @dataclasses.dataclass(frozen=True, kw_only=True)
    ... class Cell:
    ...     g_min: float = spec(2e-6, lo=0, doc="S")
    >>> build(Cell, {"g_min": 1e-6}).g_min
    1e-06
    >>> build(Cell, {"gmin": 1})
    Traceback (most recent call last):
    ...
    snnx.errors.ConfigError: gmin: unknown key; did you mean 'g_min'?
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from typing import Any

from snnx.config.registry import Registry, suggest
from snnx.errors import ConfigError

_MISSING = dataclasses.MISSING
KW = dict(frozen=True, kw_only=True)
"""Keyword arguments of every config dataclass: ``@dataclasses.dataclass(**KW)``."""


class FrozenDict(dict):
    """A read-only dict that pickles, deep-copies and hashes (for frozen configs)."""

    def _readonly(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("a config mapping is read-only; use dataclasses.replace or overrides")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _readonly  # type: ignore

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted((k, _hashable(v)) for k, v in self.items())))

    def __reduce__(self) -> tuple:
        return (FrozenDict, (dict(self),))

    def __deepcopy__(self, memo: dict) -> "FrozenDict":
        return self

    def __repr__(self) -> str:
        return f"FrozenDict({dict.__repr__(self)})"


def _hashable(v: Any) -> Any:
    if isinstance(v, (list, dict)):
        return repr(v)
    return v


def spec(default: Any = _MISSING, *, lo: float | None = None, hi: float | None = None,
         lo_open: bool = False, hi_open: bool = False, choices: tuple | None = None,
         doc: str = "", factory: Any = _MISSING) -> Any:
    """A dataclass field with validation metadata.

    Args:
        default: default value (immutable).
        lo, hi: inclusive bounds unless ``lo_open`` / ``hi_open``.
        choices: allowed values (strings are compared exactly).
        doc: one line: unit, range and (for hardware numbers) the source.
        factory: default factory for nested dataclasses and mappings.
    """
    meta = {"lo": lo, "hi": hi, "lo_open": lo_open, "hi_open": hi_open, "choices": choices,
            "doc": doc}
    if factory is not _MISSING:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def choice(registry: Registry, default: str, *, doc: str = "") -> Any:
    """A string field naming one entry of ``registry``; its parameters live beside it."""
    return dataclasses.field(default=default, metadata={"registry": registry, "doc": doc})


def plugins(registry: Registry, *, doc: str = "") -> Any:
    """A mapping field ``entry name -> its Params`` of ``registry`` (any number enabled)."""
    return dataclasses.field(default_factory=FrozenDict,
                             metadata={"registry": registry, "multi": True, "doc": doc})


def blocks(doc: str = "parameters of the chosen entries, by entry name") -> Any:
    """The hidden field that holds the sibling parameter blocks of the :func:`choice` fields."""
    return dataclasses.field(default_factory=FrozenDict, metadata={"blocks": True, "doc": doc})


def chosen(cfg: Any, field: str) -> Any:
    """The Params instance of the entry chosen by :func:`choice` field ``field`` of ``cfg``."""
    return cfg_blocks(cfg)[getattr(cfg, field)]


def cfg_blocks(cfg: Any) -> Mapping[str, Any]:
    """The parameter blocks of ``cfg`` (its :func:`blocks` field)."""
    name = _blocks_field(type(cfg))
    return getattr(cfg, name) if name else {}


def _blocks_field(cls: type) -> str | None:
    return next((f.name for f in dataclasses.fields(cls) if f.metadata.get("blocks")), None)


# --------------------------------------------------------------------------------- checking

def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    if origin in (tuple, list):
        return "list"
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, path: str) -> Any:
    """Check ``value`` against annotation ``tp``; return the (lightly coerced) value."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, path)
            except ConfigError:
                pass
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
        return FrozenDict(value)
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


def check_value(value: Any, meta: Mapping, path: str) -> None:
    """Check ``value`` against a field's ``choices`` and ``lo``/``hi`` bounds."""
    if value is None:
        return
    options = meta.get("choices")
    if options is not None and value not in options:
        raise ConfigError(f"{path}: {value!r} is not one of {', '.join(map(str, options))}")
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


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _build_multi(reg: Registry, value: Any, path: str) -> FrozenDict:
    if value is None:
        return FrozenDict()
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path}: expected a mapping {{{reg.kind} name: parameters}}, "
                          f"got {value!r}")
    out = {}
    for name, params in value.items():
        where = _join(path, name)
        if not (isinstance(name, str) and name in reg):
            raise ConfigError(f"{where}: unknown {reg.kind}; registered: "
                              f"{', '.join(reg.names())}{suggest(name, reg.names())}")
        if params is None:  # switched off
            continue
        out[name] = reg.params(name, params, where)
    return FrozenDict(out)


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
    regs = {name: f.metadata["registry"] for name, f in fields.items()
            if "registry" in f.metadata and not f.metadata.get("multi")}
    block_field = _blocks_field(cls)
    kwargs: dict[str, Any] = {}
    raw_blocks: dict[str, Any] = {}
    for key, value in data.items():
        kpath = _join(path, key)
        f = fields.get(key)
        if f is None or f.metadata.get("blocks"):
            if any(isinstance(key, str) and key in reg for reg in regs.values()):
                raw_blocks[key] = value
                continue
            extra = [n for reg in regs.values() for n in reg.names()]
            valid = [n for n, fl in fields.items() if not fl.metadata.get("blocks")] + extra
            hint = suggest(str(key), valid) or f"; valid keys: {', '.join(sorted(valid))}"
            raise ConfigError(f"{kpath}: unknown key{hint}")
        meta = f.metadata
        if "registry" in meta:
            reg = meta["registry"]
            v = _build_multi(reg, value, kpath) if meta.get("multi") else reg.check(value, kpath)
        else:
            v = _coerce(value, hints[key], kpath)
            check_value(v, meta, kpath)
        kwargs[key] = v
    for name, f in fields.items():
        if name not in kwargs and f.default is _MISSING and f.default_factory is _MISSING:
            raise ConfigError(f"{_join(path, name)}: required key is missing")
    if regs:
        built = {}
        for key, value in raw_blocks.items():
            reg = next(r for r in regs.values() if key in r)
            built[key] = reg.params(key, {} if value is None else value, _join(path, key))
        for name, reg in regs.items():
            pick = kwargs.get(name, fields[name].default)
            if pick not in built:
                built[pick] = reg.params(pick, {}, _join(path, pick))
        kwargs[block_field] = FrozenDict(built)
    try:
        return cls(**kwargs)
    except ConfigError as e:
        if path and not str(e).startswith(path):
            raise ConfigError(f"{path}.{e}") from None
        raise


def to_dict(obj: Any) -> Any:
    """A frozen config as plain nested dicts/lists (YAML-serialisable); parameter blocks
    of :func:`choice` fields come back as siblings of the choice."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {}
        extra = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if f.metadata.get("blocks"):
                extra = {k: to_dict(v) for k, v in value.items()}
            else:
                out[f.name] = to_dict(value)
        out.update(extra)
        return out
    if isinstance(obj, (tuple, list)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, Mapping):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def field_docs(cls: type, prefix: str = "") -> list[tuple[str, Any, str]]:
    """(dotted key, default, doc) for every leaf field of ``cls`` (for docs and `hw show`)."""
    rows = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.metadata.get("blocks"):
            continue
        key = f"{prefix}{f.name}"
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            rows.extend(field_docs(tp, key + "."))
        else:
            default = f.default if f.default is not _MISSING else None
            rows.append((key, default, f.metadata.get("doc", "")))
    return rows


def describe(cfg: Any, prefix: str = "") -> list[tuple[str, Any, str]]:
    """(dotted key, value, doc) for every leaf of a built config, plugin parameters included."""
    rows = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        key = f"{prefix}{f.name}"
        doc = f.metadata.get("doc", "")
        if f.metadata.get("blocks"):
            for name, params in value.items():
                rows.extend(describe(params, f"{prefix}{name}.") if params is not None else [])
        elif f.metadata.get("multi"):
            for name, params in value.items():
                rows.extend(describe(params, f"{key}.{name}."))
        elif dataclasses.is_dataclass(value):
            rows.extend(describe(value, key + "."))
        else:
            rows.append((key, value, doc))
    return rows


def without(cls: type, names: tuple[str, ...], new_name: str, doc: str) -> type:
    """A frozen dataclass with the fields of ``cls`` except ``names`` (same types, defaults,
    bounds and docs): a plugin's recipe parameters when some of the underlying config comes
    from elsewhere (e.g. a dataset's seed from the recipe seed)."""
    hints = typing.get_type_hints(cls)
    fields = []
    for f in dataclasses.fields(cls):
        if f.name in names:
            continue
        kw: dict[str, Any] = {"metadata": f.metadata}
        if f.default is not _MISSING:
            kw["default"] = f.default
        elif f.default_factory is not _MISSING:
            kw["default_factory"] = f.default_factory
        fields.append((f.name, hints[f.name], dataclasses.field(**kw)))
    out = dataclasses.make_dataclass(new_name, fields, **KW)
    out.__doc__ = doc
    out.__module__ = cls.__module__
    return out
