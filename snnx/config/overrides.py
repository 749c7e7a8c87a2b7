"""``key.path=value`` overrides on nested mappings (recipes, hardware models, search spaces).

Example:
    >>> parse_override("adapt.lr=1e-3")
    ('adapt.lr', 0.001)
    >>> set_path({"a": {"b": 1}}, "a.c", [1, 2])
    {'a': {'b': 1, 'c': [1, 2]}}
    >>> flatten({"noise": {"read": {"constant": {"sigma": 0.01}}}, "x": {}})
    {'noise.read.constant.sigma': 0.01, 'x': {}}
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from snnx.config.yamlio import one_line, parse
from snnx.errors import ConfigError


def parse_override(text: Any) -> tuple[str, Any]:
    """Split ``"a.b=value"`` into ``("a.b", value)``; the value is parsed as YAML.

    ``adapt.lr=1e-3`` gives 0.001, ``model.hidden=[64,32]`` a list, ``data.path=`` null.

    Raises:
        ConfigError: missing ``=``, empty key, empty part (``a..b``), spaces or brackets in
            the key, or a value that is not valid YAML.
    """
    if not isinstance(text, str):
        raise ConfigError(f"--set: expected 'key.path=value', got {text!r}")
    key, eq, raw = text.partition("=")
    key = key.strip()
    if not eq:
        raise ConfigError(f"{key or '--set'}: missing '=' in override {text!r}; write "
                          f"{key or 'key.path'}=VALUE")
    if not key:
        raise ConfigError(f"--set: empty key path in override {text!r}; write key.path=VALUE")
    if any(ch.isspace() for ch in key):
        raise ConfigError(f"{key}: spaces are not allowed in a key path ({text!r})")
    if "[" in key or "]" in key:
        raise ConfigError(f"{key}: list items cannot be set one by one; set the whole list, "
                          f"e.g. transforms=[{{name: mdm}}]")
    if not all(key.split(".")):
        raise ConfigError(f"{key}: empty part in key path (stray or doubled '.'); write e.g. "
                          f"adapt.lr=1e-3")
    try:
        value = parse(raw, key) if raw.strip() else None
    except ConfigError as e:
        why = one_line(str(e)[len(key) + 2:])
        raise ConfigError(f"{key}: cannot parse value {raw!r} as YAML ({why})") from None
    return key, value


def flatten(tree: Mapping, prefix: str = "", where: str = "overrides") -> dict[str, Any]:
    """Nested mapping -> ``{"a.b": leaf}``; an empty mapping is a leaf.

    Raises:
        ConfigError: a key that is not a non-empty string (``where`` names the mapping).
    """
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"{where}: key {key!r} is not a dotted key")
        full = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, full, where))
        else:
            out[full] = value
    return out


def set_path(data: Mapping, dotted: str, value: Any) -> dict:
    """A deep copy of nested dict ``data`` with ``dotted`` key set to ``value``.

    Raises:
        ConfigError: a malformed path, or a part of it that is a value, not a section.
    """
    out = copy.deepcopy(dict(data))
    parts = dotted.split(".")
    if not all(parts):
        raise ConfigError(f"{dotted}: malformed key path")
    node = out
    for i, p in enumerate(parts[:-1]):
        nxt = node.get(p)
        if nxt is None:
            nxt = {}
        elif isinstance(nxt, Mapping):
            nxt = dict(nxt)
        else:
            raise ConfigError(f"{'.'.join(parts[:i + 1])}: is not a section, cannot set {dotted}")
        node[p] = nxt
        node = nxt
    node[parts[-1]] = value
    return out


def merge(data: Mapping, overrides: Mapping[str, Any]) -> dict:
    """``data`` with dotted-key ``overrides`` applied in order; a value that is a mapping under
    a plain section name (``noise={...}``) sets each of its leaves."""
    out = copy.deepcopy(dict(data))
    for key, value in overrides.items():
        if isinstance(value, Mapping) and value and "." not in key:
            for sub, v in flatten(value, key).items():
                out = set_path(out, sub, v)
        else:
            out = set_path(out, key, value)
    return out
