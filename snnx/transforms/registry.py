"""Names of the model transforms (torch-free, so recipes can validate names cheaply).

A transform is a pure model -> model pass run at deployment, after the model has been put on
tiles (``to_analog``) and before the deployed accuracy is measured::

    fn(model, params: dict, *, calib: torch.Tensor | None, seed: int) -> model

``calib`` is a batch of representative inputs (e.g. to estimate input-bit probabilities).
Adding a transform is one module plus one line here.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

#: name -> ("module:function", one-line description)
TRANSFORMS: dict[str, tuple[str, str]] = {
    "mdm": ("snnx.transforms.mdm:mdm",
            "Manhattan Distance Mapping: denser bit columns and busier rows where wire "
            "resistance hurts least (bit-sliced tiles)"),
}


def get(name: str) -> Callable[..., Any]:
    """The transform function registered as ``name``."""
    target, _ = TRANSFORMS[name]
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)


def descriptions() -> dict[str, str]:
    """name -> one-line description."""
    return {k: v[1] for k, v in TRANSFORMS.items()}
