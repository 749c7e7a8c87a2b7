"""A search problem: the base recipe, its ``dse:`` block, checked together before any trial.

:func:`load_problem` reads a recipe with a ``dse:`` block and checks, before anything runs,
that every searched key exists in the recipe and accepts both ends of its range (or every
choice), that the fidelity keys accept their cheap and full values, and that every objective
names a numeric report.json field. A trial's recipe is the base recipe plus the sampled
values plus the fidelity's values (:meth:`Problem.trial_recipe`); it is validated like any
recipe.

Example:
    >>> from snnx.pipeline.recipe_files import load_recipe
    >>> prob = load_problem(load_recipe("dse_har"))
    >>> sorted(prob.config.objectives)[:2], prob.directions[:2]
    (['accuracy.adapted', 'cost.area_m2'], ['maximize', 'minimize'])
    >>> r = prob.trial_recipe({"adapt.rule": "bp"}, "cheap")
    >>> r.adapt.rule, r.pretrain.epochs, r.dse is None
    ('bp', 2, True)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any

from snnx.config.registry import suggest
from snnx.config.yamlio import one_line
from snnx.dse.config import DseConfig, ParamSpec, build_dse, check_fidelity_sides
from snnx.errors import ConfigError
from snnx.pipeline.recipe import Recipe, apply_overrides, build_recipe

log = logging.getLogger(__name__)

_COST = ("energy_j", "latency_s", "pulses", "energy_by_op.*", "latency_by_op.*", "counts.*")
REPORT_FIELDS: dict[str, tuple[str, ...]] = {
    "accuracy": ("software", "software_target", "deployed", "adapted", "adapted_source",
                 "prequential"),
    "cost": (*_COST, "area_m2", "steps", "energy_per_step_j", "area_by_component.*"),
    "inference": _COST,
    "rule_setup": _COST,
    "stream": ("windows", "passes", "labelled", "learned", "steps"),
    "model": ("weights", "timesteps"),
    "timing": ("pretrain_s", "adapt_s"),
}
"""Numeric report.json fields an objective may name, by block (``*``: any operation name).
A new report field joins by one entry here."""

FIDELITY_BLOCKS = ("accuracy",)
"""Report blocks whose values depend on the fidelity (cheaper training or fewer draws change
them); the other objectives come from the cost model and are the same at both fidelities."""


def known_fields() -> list[str]:
    """Every field of :data:`REPORT_FIELDS` as a dotted path."""
    return [f"{block}.{leaf}" for block, leaves in REPORT_FIELDS.items() for leaf in leaves]


def check_field(field: str, where: str) -> None:
    """Raise ConfigError unless ``field`` is a known numeric report.json field."""
    block, _, leaf = field.partition(".")
    leaves = REPORT_FIELDS.get(block, ())
    if leaf in leaves:
        return
    head, _, op = leaf.partition(".")
    if op and "." not in op and f"{head}.*" in leaves:
        return
    names = known_fields()
    raise ConfigError(f"{where}: {field!r} is not a numeric report.json field"
                      f"{suggest(field, names, 0.6) or ''} (known: "
                      f"{', '.join(n for n in names if not n.endswith('*'))}, and "
                      f"<block>.energy_by_op.<op> ...)")


def report_value(report: Mapping[str, Any], field: str) -> float:
    """The number at dotted ``field`` of a report.

    Raises:
        ConfigError: ``dse.objectives.<field>: ...`` when it is missing or not a number.
    """
    node: Any = report
    for part in field.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise ConfigError(f"dse.objectives.{field}: report.json has no such field")
        node = node[part]
    if isinstance(node, bool) or not isinstance(node, (int, float)):
        raise ConfigError(f"dse.objectives.{field}: report.json holds {node!r}, not a number")
    return float(node)


@dataclasses.dataclass(frozen=True)
class Problem:
    """A validated search: the base recipe (no ``dse`` block) and the ``dse`` config.

    Attributes:
        base: the recipe every trial starts from.
        config: the validated ``dse`` block.
        study: the study name (``dse.study`` or the recipe name).
    """

    base: Recipe
    config: DseConfig
    study: str

    @property
    def fields(self) -> list[str]:
        """The objectives' report.json fields, in order."""
        return list(self.config.objectives)

    @property
    def directions(self) -> list[str]:
        """``maximize`` / ``minimize`` per objective, in order."""
        return [o.direction for o in self.config.objectives.values()]

    @property
    def signs(self) -> list[float]:
        """Per objective: +1 to minimise, -1 to maximise (multiply to get minimisation)."""
        return [1.0 if d == "minimize" else -1.0 for d in self.directions]

    @property
    def fidelity_dependent(self) -> list[bool]:
        """Per objective: does it change with the fidelity (see :data:`FIDELITY_BLOCKS`)?"""
        return [f.split(".", 1)[0] in FIDELITY_BLOCKS for f in self.fields]

    @property
    def multi_fidelity(self) -> bool:
        """True when the block has a ``fidelity`` section."""
        return self.config.fidelity is not None

    def overrides(self, params: Mapping[str, Any], fidelity: str = "full") -> list[tuple]:
        """``(recipe key, value)`` pairs of sampled ``params`` (Optuna values, by parameter
        name) at ``fidelity`` (``cheap`` or ``full``)."""
        pairs = []
        for name, p in self.config.space.items():
            if name in params:
                value = p.decode(params[name])
                pairs += [(key, value) for key in p.keys]
        fid = self.config.fidelity
        if fid is not None:
            pairs += list((fid.cheap if fidelity == "cheap" else fid.full).items())
        return pairs

    def trial_recipe(self, params: Mapping[str, Any], fidelity: str = "full") -> Recipe:
        """The validated recipe of a trial: base + sampled values + fidelity values.

        Raises:
            ConfigError: the combination is not a valid recipe (the message names the key).
        """
        return build_recipe(apply_overrides(self.base.to_dict(),
                                            self.overrides(params, fidelity)))

    def fingerprint(self) -> dict[str, str]:
        """What makes trials comparable -- the base recipe, the space, the objectives, the
        fidelity -- as a short hash each; a study remembers it and refuses to continue
        under another one."""
        cfg = self.config.to_dict()
        parts = {"recipe": self.base.to_dict(),
                 **{k: cfg[k] for k in ("space", "objectives", "fidelity")}}
        return {k: digest(v) for k, v in parts.items()}


def digest(value: Any) -> str:
    """A short, stable hash of JSON-able data (16 hex digits of SHA-256)."""
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _check_value(base: dict, key: str, value: Any, where: str) -> None:
    try:
        build_recipe(apply_overrides(base, [(key, value)]))
    except ConfigError as e:
        msg = one_line(e)
        if msg.startswith(key + ":"):  # the key itself: unknown, wrong type, out of range
            rest = msg[len(key) + 1:].strip()
            raise ConfigError(f"{where}: {rest}" if where.endswith("." + key)
                              else f"{where}: {key}: {rest}") from None
        raise ConfigError(f"{where}: {key} = {value!r} is not valid ({msg})") from None


def _check_param(base: dict, name: str, p: ParamSpec) -> None:
    where = f"dse.space.{name}"
    for key in p.keys:
        for value in p.candidates():
            _check_value(base, key, value, where)


def _warn_step_budget(cfg: DseConfig, data: dict) -> None:
    """Pretraining runs max(pretrain.steps, epochs x batches per epoch) optimiser steps: a
    fidelity that only changes the epochs under a step budget may change nothing."""
    fid = cfg.fidelity
    if "pretrain.epochs" not in fid.cheap or "pretrain.steps" in fid.cheap:
        return
    steps = int(data.get("pretrain", {}).get("steps", 0) or 0)
    if steps > 0 and fid.cheap["pretrain.epochs"] != fid.full["pretrain.epochs"]:
        log.warning("dse.fidelity: cheap and full differ in pretrain.epochs, but the recipe's "
                    "pretrain.steps = %d is a floor on the optimiser steps (budget = max(steps, "
                    "epochs x batches per epoch)), so a cheap trial may pretrain as long as a "
                    "full one; set pretrain.steps: 0 or put pretrain.steps in the fidelity",
                    steps)


def load_problem(recipe: Recipe) -> Problem:
    """Check a recipe's ``dse`` block against the recipe and report.json (before any trial).

    Raises:
        ConfigError: one line naming the key: an unknown or invalid recipe key in the space
            or the fidelity, an empty range, an unknown objective field ...
    """
    cfg = build_dse(recipe.dse)
    base = build_recipe({**recipe.to_dict(), "dse": None})
    data = base.to_dict()
    for name, p in cfg.space.items():
        _check_param(data, name, p)
    if cfg.fidelity is not None:
        for side in ("cheap", "full"):
            for key, value in getattr(cfg.fidelity, side).items():
                _check_value(data, key, value, f"dse.fidelity.{side}.{key}")
        check_fidelity_sides(cfg.fidelity)
        _warn_step_budget(cfg, data)
    for field in cfg.objectives:
        check_field(field, f"dse.objectives.{field}")
    return Problem(base=base, config=cfg, study=cfg.study or recipe.name)
