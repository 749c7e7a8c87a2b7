"""snnx.transforms: model -> model passes run at deployment (mapping, ...).

See :mod:`snnx.transforms.registry` for the calling convention and the registered names.
"""

from __future__ import annotations

from typing import Any, Iterable

from snnx.transforms.registry import TRANSFORMS, descriptions, get

__all__ = ["TRANSFORMS", "apply_transforms", "descriptions", "get"]


def apply_transforms(model: Any, specs: Iterable[Any], *, calib=None, seed: int = 0) -> Any:
    """Apply recipe transform specs (objects with ``name`` and ``params``) in order."""
    for i, spec in enumerate(specs):
        model = get(spec.name)(model, dict(spec.params), calib=calib, seed=seed + i)
    return model
