"""Lazy re-exports for package ``__init__`` modules (PEP 562).

A package that offers torch-backed classes *and* a torch-free registry (``snnx.learn``,
``snnx.transforms``, ``snnx.nn``) re-exports its public names lazily, so that importing the
registry to validate a recipe does not import torch.

Example:
    >>> __getattr__ = lazy_exports("fractions", {"Fraction": "fractions"})
    >>> __getattr__("Fraction")(1, 2)
    Fraction(1, 2)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``names[attr]`` (a module path) on first use."""

    def __getattr__(attr: str) -> Any:
        if attr in names:
            return getattr(importlib.import_module(names[attr]), attr)
        raise AttributeError(f"module {package!r} has no attribute {attr!r}")

    return __getattr__
