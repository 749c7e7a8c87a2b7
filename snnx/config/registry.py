"""One registry shape for every pluggable part of snnx: name -> entry (+ its ``Params``).

Rules, transforms, datasets, network kinds, device models, read-noise models and CLI
commands are each a :class:`Registry`. An entry is a target -- an object, or a lazy
``"package.module:attr"`` string imported on first use -- plus a one-line description. The
entry's parameters are a frozen dataclass named ``Params``: the target's own ``Params``
attribute, else the ``Params`` of the module that defines it. So a new rule, transform,
device or dataset is ONE file (its ``Params`` and its implementation) plus ONE registry line;
recipes reach every parameter under the entry's own field names, and
:meth:`Registry.params` validates them with the strict schema builder
(:func:`snnx.config.schema.build`: unknown key with a "did you mean", type, range).

Example:
    >>> reg = Registry("colour", {"red": ("fractions:Fraction", "a test entry")})
    >>> reg.names()
    ['red']
    >>> reg.check("rde", "paint.colour")
    Traceback (most recent call last):
    ...
    snnx.errors.ConfigError: paint.colour: 'rde' is not one of red; did you mean 'red'?
"""

from __future__ import annotations

import difflib
import importlib
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from snnx.errors import ConfigError


def suggest(word: Any, valid: Iterable[str], cutoff: float = 0.6) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``valid`` to ``word``, else ``""``.

    The one "did you mean" of snnx: config keys, registry names, presets, recipes.
    """
    close = difflib.get_close_matches(str(word), list(valid), n=1, cutoff=cutoff)
    return f"; did you mean '{close[0]}'?" if close else ""


class Entry:
    """One registered part: a (lazy) target, a description and its ``Params`` class.

    Args:
        name: the registry key (the name recipes use).
        target: the object, or ``"module:attr"`` imported on first :meth:`load`.
        description: one line for listings and docs.
    """

    __slots__ = ("name", "target", "description", "_obj")

    def __init__(self, name: str, target: Any, description: str = "") -> None:
        if isinstance(target, str) and target.count(":") != 1:
            raise ValueError(f"{name}: a lazy target is 'package.module:attr', got {target!r}")
        self.name, self.target, self.description = name, target, description
        self._obj = None if isinstance(target, str) else target

    def load(self) -> Any:
        """The registered object (imported on first use)."""
        if self._obj is None:
            module, attr = self.target.split(":")
            self._obj = getattr(importlib.import_module(module), attr)
        return self._obj

    @property
    def params(self) -> type | None:
        """The entry's frozen ``Params`` dataclass, or None when it takes no parameters."""
        obj = self.load()
        if hasattr(obj, "Params"):  # may be None: an entry without parameters
            return obj.Params
        return getattr(sys.modules.get(getattr(obj, "__module__", ""), None), "Params", None)

    def __repr__(self) -> str:
        target = self.target if isinstance(self.target, str) else getattr(
            self.target, "__qualname__", repr(self.target))
        return f"Entry({self.name!r}, {target!r})"


class Registry(Mapping[str, Any]):
    """A closed, explicit table of named parts (no import magic beyond ``module:attr``).

    As a mapping it gives the loaded objects (``RULES["dfa"]`` is the DFA class);
    :meth:`entry` gives the :class:`Entry` (lazy target, description, ``Params``).

    Args:
        kind: what the entries are, for messages (``"rule"``, ``"transform"`` ...).
        entries: ``{name: (target, description)}`` (target an object or ``"module:attr"``).
    """

    def __init__(self, kind: str, entries: Mapping[str, tuple[Any, str]] | None = None) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}
        for name, (target, description) in (entries or {}).items():
            self.register(name, target, description)

    # ------------------------------------------------------------------ changing
    def register(self, name: str, target: Any, description: str = "", *,
                 replace: bool = False) -> None:
        """Add an entry (e.g. a rule of your own from a test or a notebook).

        Raises:
            ValueError: the name is taken (pass ``replace=True``) or not a plain name.
        """
        if not isinstance(name, str) or not name.replace("_", "").isalnum():
            raise ValueError(f"{self.kind}: {name!r} is not a plain name (letters, digits, _)")
        if name in self._entries and not replace:
            raise ValueError(f"{self.kind}: {name!r} is already registered")
        self._entries[name] = Entry(name, target, description)

    def unregister(self, name: str) -> None:
        """Remove an entry (no error when absent)."""
        self._entries.pop(name, None)

    # ------------------------------------------------------------------ Mapping
    def __getitem__(self, name: str) -> Any:
        return self._entries[name].load()

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    # ------------------------------------------------------------------ lookups
    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def descriptions(self) -> dict[str, str]:
        """name -> one-line description."""
        return {n: e.description for n, e in sorted(self._entries.items())}

    def check(self, name: Any, path: str) -> str:
        """``name`` if registered, else a ConfigError naming ``path`` and the valid names."""
        if isinstance(name, str) and name in self._entries:
            return name
        raise ConfigError(f"{path}: {name!r} is not one of {', '.join(self.names())}"
                          f"{suggest(name, self.names())}")

    def entry(self, name: str, path: str | None = None) -> Entry:
        """The :class:`Entry` of ``name`` (ConfigError naming ``path`` when unknown)."""
        return self._entries[self.check(name, path or self.kind)]

    def get(self, name: str, path: str | None = None) -> Any:  # type: ignore[override]
        """The loaded object of ``name`` (ConfigError naming ``path`` when unknown)."""
        return self.entry(name, path).load()

    def params(self, name: str, data: Mapping[str, Any] | Any = None, path: str = "") -> Any:
        """``name``'s Params built strictly from ``data`` (a mapping or a Params instance).

        Raises:
            ConfigError: unknown name, unknown parameter (with "did you mean"), wrong type or
                out-of-range value; the message starts with ``path`` (e.g. ``adapt.dfa``).
        """
        from snnx.config.schema import build

        cls = self.entry(name, path).params
        if cls is None:
            if data:
                keys = ", ".join(map(str, dict(data)))
                raise ConfigError(f"{path or name}: {self.kind} {name!r} takes no parameters "
                                  f"(got {keys})")
            return None
        if isinstance(data, cls):
            return data
        return build(cls, data, path)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"
