"""snnx.transforms: model -> model passes run at deployment (mapping, encryption, ...).

A transform is a pure function run after the model has been put on tiles (``to_analog``)
and before the deployed accuracy is measured::

    fn(model, params: Params, *, calib: torch.Tensor | None, seed: int) -> model

``Params`` is the frozen dataclass of the transform's module; a recipe lists transforms as
``transforms: [{name: mdm, rows: true}]`` and each entry's keys are checked against it.
``calib`` is a batch of representative network inputs (e.g. to estimate input-bit
probabilities). :data:`TRANSFORMS` is the registry; adding a transform is one module plus
one line there.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from snnx.config.registry import Registry
from snnx.config.seeds import derive

TRANSFORMS = Registry("transform", {
    "mdm": ("snnx.transforms.mdm:mdm",
            "Manhattan Distance Mapping: denser bit columns and busier rows where wire "
            "resistance hurts least (bit-sliced tiles)"),
})
"""Recipe name -> transform function (lazy)."""


def apply_transforms(model: Any, specs: Iterable[Any], *, calib: Any = None,
                     seed: int = 0) -> Any:
    """Apply transform specs (objects with ``name`` and ``params``: a Params instance or a
    mapping) in order; transform i gets seed ``seed + i``.

    Raises:
        ConfigError: ``transforms[i]...`` for an unknown name or a bad parameter.
    """
    for i, spec in enumerate(specs):
        where = f"transforms[{i}]"
        TRANSFORMS.check(spec.name, f"{where}.name")
        params = TRANSFORMS.params(spec.name, spec.params, where)
        model = TRANSFORMS.get(spec.name)(model, params, calib=calib,
                                          seed=derive(seed, "transforms", i))
    return model


__all__ = ["TRANSFORMS", "apply_transforms"]
