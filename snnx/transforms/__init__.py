"""snnx.transforms: model -> model passes run at deployment (mapping, encryption, ...).

A transform is a pure function run after the model has been put on tiles (``to_analog``)
and before the deployed accuracy is measured::

    fn(model, params: Params, *, calib: torch.Tensor | None, seed: int) -> model

``Params`` is the frozen dataclass of the transform's module; a recipe lists transforms as
``transforms: [{name: mdm, rows: true}]`` and each entry's keys are checked against it.
``calib`` is a batch of representative network inputs (e.g. to estimate input-bit
probabilities). :data:`TRANSFORMS` is the registry; adding a transform is one module plus
one line there.

A transform may add a block to the run's report.json with :func:`attach_report`: a mapping,
or a callable ``block(measure) -> mapping`` that the pipeline calls once after deployment,
where ``measure(model) -> float`` is the accuracy of any model on the run's held-out target
windows (measured without side effects). :func:`transform_reports` evaluates them; the run
writes each block under its name (``encryption``, ``reprogram``, ...).
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
    "encrypt": ("snnx.transforms.encrypt_tiles:encrypt",
                "PUF-keyed periphery: the cells hold scrambled weights (row inversions, "
                "output-pair swaps); obfuscation, not cryptography"),
    "reprogram": ("snnx.transforms.reprogram_tiles:reprogram_model",
                  "weight sorting + bit stucking: the stale weights held when tiles stream "
                  "through a few reused arrays, and the writes it saves"),
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


REPORTS = "transform_reports"
"""Attribute of a transformed model that holds its report blocks (name -> block)."""


def attach_report(model: Any, name: str, block: Any) -> None:
    """Give ``model`` (a transform's own output) the report.json block ``name``: a mapping,
    or a callable ``block(measure)`` (see the module docstring). Earlier blocks are kept; a
    later one of the same name replaces it."""
    setattr(model, REPORTS, {**getattr(model, REPORTS, {}), name: block})


def transform_reports(model: Any, measure: Any) -> dict:
    """The report blocks of ``model``'s transforms, callables evaluated with ``measure``."""
    return {name: dict(block(measure) if callable(block) else block)
            for name, block in getattr(model, REPORTS, {}).items()}


def rebuild_transforms(model: Any, specs: Iterable[Any], *, seed: int = 0) -> Any:
    """Restore what transforms keep outside the tiles' saved state on a network rebuilt on
    tiles (``snnx.load_run``), before its checkpoint is loaded: a transform whose function
    has a ``rebuild(model, params, *, seed)`` gets it (``encrypt``: the chip's periphery keys,
    re-derived from its PUF), seeded as at deployment (transform i: ``seed + i``)."""
    for i, spec in enumerate(specs):
        fn = getattr(TRANSFORMS.get(spec.name), "rebuild", None)
        if fn is not None:
            params = TRANSFORMS.params(spec.name, spec.params, f"transforms[{i}]")
            model = fn(model, params, seed=derive(seed, "transforms", i))
    return model


def copy_model(model: Any) -> Any:
    """A deep copy of ``model`` whose analog layers know whether their tiles are in sync with
    their master copy ``weight`` (a copied Parameter restarts its version counter)."""
    import copy

    out = copy.deepcopy(model)
    for src, dst in zip(model.modules(), out.modules()):
        if hasattr(src, "_programmed_version") and hasattr(dst, "weight"):
            dst._programmed_version = dst.weight._version if (
                src._programmed_version == src.weight._version) else -1
    return out


def tile_layers(model: Any) -> list:
    """The modules of ``model`` that hold a :class:`~snnx.hw.tile.Tile` (``.tile``), in order."""
    from snnx.hw.tile import Tile

    return [m for m in model.modules() if isinstance(getattr(m, "tile", None), Tile)]


__all__ = ["TRANSFORMS", "apply_transforms", "attach_report", "transform_reports",
           "copy_model", "tile_layers", "rebuild_transforms", "REPORTS"]
