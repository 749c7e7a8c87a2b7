"""The one list of names that mark a secret (encryption keys, PUF seeds, passwords).

A value stored under such a name never goes into a recipe, a log, TensorBoard or a
checkpoint in clear (DESIGN.md contract 4): recipes refuse it, loggers print
``<redacted>``, checkpoints refuse to write it.

Example:
    >>> is_secret("key"), is_secret("layer_key"), is_secret("keys_total")
    (True, True, False)
    >>> redact({"encrypt": {"puf_seed": 7, "rows": True}})
    {'encrypt': {'puf_seed': '<redacted>', 'rows': True}}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SECRET_NAMES = ("key", "secret", "password", "token", "puf_seed")
"""A name equal to one of these, or ending in ``_<one of these>``, holds a secret."""

REDACTED = "<redacted>"


def is_secret(name: Any) -> bool:
    """True when a key ``name`` marks a secret value."""
    n = str(name).lower()
    return n in SECRET_NAMES or n.endswith(tuple("_" + s for s in SECRET_NAMES))


def redact(tree: Any) -> Any:
    """A copy of a nested mapping/list with every secret value replaced by ``<redacted>``."""
    if isinstance(tree, Mapping):
        return {k: REDACTED if is_secret(k) and v is not None else redact(v)
                for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [redact(v) for v in tree]
    return tree
