"""The ``dse:`` block of a recipe: search space, objectives, fidelity, sampler and budget.

A recipe for ``snnx dse`` is a normal recipe (the *base*: every trial starts from it) plus a
``dse:`` block::

    dse:
      sampler: motpe                 # nsga2 | motpe | gp | random
      trials: 40                     # trials the sampler proposes (at the cheap fidelity)
      space:                         # recipe key -> range or choices
        hw.overrides.periphery.adc_bits: {low: 4, high: 8}
        adapt.lr: {low: 1.0e-4, high: 1.0e-2, log: true}
        adapt.rule: {choices: [dfa, bp]}
        array: {choices: [64, 128], keys: [hw.overrides.array.rows, hw.overrides.array.cols]}
      objectives:                    # report.json field -> direction
        accuracy.adapted: maximize
        cost.energy_j: minimize
      fidelity:                      # optional: cheap screening, promotion to full
        cheap: {pretrain.epochs: 2}
        full: {pretrain.epochs: 10}

This module checks the block's *shape* (types, ranges, empty ranges, log scales); whether
its keys exist in the recipe and its objectives in report.json is checked by
:mod:`snnx.dse.problem`. Imports only the standard library and :mod:`snnx.config`.

Example:
    >>> cfg = build_dse({"space": {"adapt.lr": {"low": 1e-4, "high": 1e-2, "log": True}},
    ...                  "objectives": {"accuracy.adapted": "maximize"}})
    >>> cfg.sampler, cfg.space["adapt.lr"].kind, cfg.space["adapt.lr"].keys
    ('motpe', 'float', ('adapt.lr',))
    >>> build_dse({"space": {"adapt.lr": {"low": 1e-2, "high": 1e-4}},
    ...            "objectives": {"accuracy.adapted": "maximize"}})
    Traceback (most recent call last):
    ...
    snnx.errors.ConfigError: dse.space.adapt.lr: empty range: low 0.01 >= high 0.0001
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from snnx.config.schema import KW, FrozenDict, build, spec
from snnx.config.overrides import flatten
from snnx.config.yamlio import dump
from snnx.errors import ConfigError

SAMPLERS = ("nsga2", "motpe", "gp", "random")
"""nsga2: Optuna's NSGA-II (the baseline) | motpe: multivariate multi-objective TPE | gp:
Gaussian process with log expected hypervolume improvement | random."""

DIRECTIONS = ("maximize", "minimize")


@dataclasses.dataclass(**KW)
class ParamSpec:
    """One searched parameter: a numeric range or a list of choices, set on recipe keys."""

    low: int | float | None = spec(None, doc="lower end of a numeric range (inclusive)")
    high: int | float | None = spec(None, doc="upper end of a numeric range (inclusive)")
    log: bool = spec(False, doc="sample the range on a log scale (needs low > 0)")
    step: int | float | None = spec(None, lo=0, lo_open=True,
                                    doc="grid step of the range; null = continuous (float) "
                                        "or 1 (int)")
    type: str | None = spec(None, choices=("int", "float"),
                            doc="int or float; default int when low, high (and step) are "
                                "integers")
    choices: tuple[Any, ...] | None = spec(None, doc="the values to choose from (numbers, "
                                                     "strings, booleans, lists ...)")
    keys: tuple[str, ...] = spec((), doc="recipe keys this parameter sets, all to the same "
                                         "value; default: the parameter's own name")

    @property
    def kind(self) -> str:
        """``int``, ``float`` or ``choice``."""
        if self.choices is not None:
            return "choice"
        if self.type is not None:
            return self.type
        ints = all(isinstance(v, int) and not isinstance(v, bool)
                   for v in (self.low, self.high, self.step) if v is not None)
        return "int" if ints else "float"

    def encoded_choices(self) -> tuple:
        """The choices as Optuna can store them: scalars as they are, anything else (a list,
        a mapping) as its one-line YAML text; :meth:`decode` reverses it."""
        return tuple(_encode(c) for c in self.choices or ())

    def decode(self, value: Any) -> Any:
        """The recipe value of a sampled Optuna value."""
        if self.choices is not None:
            for c in self.choices:
                if _encode(c) == value:
                    return c
            raise ConfigError(f"dse.space: {value!r} is not one of the choices "
                              f"{list(self.encoded_choices())}")
        return int(value) if self.kind == "int" else float(value)

    def candidates(self) -> tuple:
        """Values that show whether the parameter fits the recipe: both ends of the range,
        or every choice."""
        if self.choices is not None:
            return tuple(self.choices)
        return (self.decode(self.low), self.decode(self.high))


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return dump(value).strip() if not isinstance(value, tuple) else dump(list(value)).strip()


@dataclasses.dataclass(**KW)
class ObjectiveSpec:
    """One objective: a numeric report.json field and the direction to push it."""

    field: str = spec(doc="dotted report.json field, e.g. accuracy.adapted, cost.energy_j")
    direction: str = spec(choices=DIRECTIONS, doc="maximize or minimize")
    bounds: tuple[float, float] | None = spec(
        None, doc="[worst-to-best range] used to normalise the objective to [0, 1] for the "
                  "hypervolume: [low, high] in the field's unit; null = the range seen over "
                  "the study's trials")

    @property
    def label(self) -> str:
        """A short label for tables and plots: the field's last part."""
        return self.field.rsplit(".", 1)[-1]


@dataclasses.dataclass(**KW)
class FidelitySpec:
    """Two fidelities: cheap screening evaluations, then full evaluations of the promising."""

    cheap: Mapping[str, Any] = spec(doc="recipe key -> value of a cheap evaluation, e.g. "
                                        "{pretrain.epochs: 2, eval.mc_draws: 1}")
    full: Mapping[str, Any] = spec(doc="recipe key -> value of a full evaluation (the same "
                                       "keys), e.g. {pretrain.epochs: 10, eval.mc_draws: 3}")
    margin: float = spec(0.02, lo=0, doc="optimism added to the fidelity-dependent objectives "
                                         "(accuracy.*) of a cheap trial, on top of the gain "
                                         "seen between cheap and full evaluations, when "
                                         "deciding a promotion (report units: 0.02 = 2 "
                                         "accuracy points)")
    max_promoted: float = spec(0.5, lo=0, hi=1, lo_open=True,
                               doc="at most this share of the cheap trials is promoted to "
                                   "a full evaluation, in (0, 1]")


@dataclasses.dataclass(**KW)
class DseConfig:
    """The ``dse:`` block (see the module docstring)."""

    study: str | None = spec(None, doc="Optuna study name; null = the recipe name")
    sampler: str = spec("motpe", choices=SAMPLERS, doc="nsga2 | motpe | gp | random")
    trials: int = spec(40, lo=1, hi=1_000_000,
                       doc="trials the sampler proposes (cheap ones when fidelity is set); "
                           "full evaluations of promoted trials come on top")
    budget_s: float | None = spec(None, lo=0, lo_open=True,
                                  doc="stop once the trials (both fidelities, all workers) "
                                      "have used this much CPU time, s; null = no limit")
    population: int = spec(8, lo=2, hi=100000, doc="NSGA-II population size")
    startup: int = spec(8, lo=1, hi=100000, doc="random trials before motpe / gp model")
    seed: int = spec(0, lo=0, hi=2**32 - 1, doc="sampler seed (worker k adds k)")
    space: Mapping[str, ParamSpec] = spec(factory=FrozenDict,
                                          doc="parameter name (a recipe key) -> ParamSpec")
    objectives: Mapping[str, ObjectiveSpec] = spec(
        factory=FrozenDict, doc="report.json field -> maximize | minimize | {direction, bounds}")
    fidelity: FidelitySpec | None = spec(None, doc="cheap and full fidelity; null = every "
                                                   "trial at the recipe's own settings")

    def to_dict(self) -> dict:
        """Plain nested dict (for storing with the study and for ``--print-config``)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["space"] = {k: {f.name: _plain(v) for f in dataclasses.fields(p)
                            if (v := getattr(p, f.name)) is not None and v is not False
                            and v != ()}
                        for k, p in self.space.items()}
        out["objectives"] = {k: {"direction": o.direction, "bounds": _plain(o.bounds)}
                             for k, o in self.objectives.items()}
        if self.fidelity is not None:
            fid = self.fidelity
            out["fidelity"] = {"cheap": _plain(fid.cheap), "full": _plain(fid.full),
                               "margin": fid.margin, "max_promoted": fid.max_promoted}
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# ------------------------------------------------------------------------------- building

def _build_param(name: Any, raw: Any, where: str) -> ParamSpec:
    if not isinstance(name, str) or not name or any(not part for part in name.split(".")):
        raise ConfigError(f"{where}: {name!r} is not a parameter name (a dotted recipe key)")
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected {{low: .., high: ..}} or {{choices: [..]}}, "
                          f"got {raw!r}")
    p = build(ParamSpec, raw, where)
    keys = p.keys or (name,)
    for i, key in enumerate(keys):
        if not key or any(not part for part in str(key).split(".")):
            raise ConfigError(f"{where}.keys[{i}]: {key!r} is not a dotted recipe key")
        if key == "dse" or key.startswith("dse."):
            raise ConfigError(f"{where}: the search cannot set dse keys ({key})")
    if len(set(keys)) != len(keys):
        raise ConfigError(f"{where}.keys: a key is listed twice: {list(keys)}")
    if p.choices is not None:
        if any(v is not None for v in (p.low, p.high, p.step, p.type)) or p.log:
            raise ConfigError(f"{where}: give either choices or a range (low, high, log, "
                              f"step, type), not both")
        if len(p.choices) < 2:
            raise ConfigError(f"{where}: empty search: {len(p.choices)} choice(s); list at "
                              f"least two (a fixed value belongs in the recipe)")
        enc = [_encode(c) for c in p.choices]
        if len(set(map(repr, enc))) != len(enc):
            raise ConfigError(f"{where}.choices: a value is listed twice: {list(p.choices)}")
        return dataclasses.replace(p, keys=keys)
    if p.low is None or p.high is None:
        missing = "low" if p.low is None else "high"
        raise ConfigError(f"{where}.{missing}: required for a range (or give choices)")
    if not p.low < p.high:
        raise ConfigError(f"{where}: empty range: low {p.low!r} >= high {p.high!r}")
    if p.log and p.low <= 0:
        raise ConfigError(f"{where}.low: a log-scale range needs low > 0, got {p.low!r}")
    if p.log and p.step is not None:
        raise ConfigError(f"{where}.step: a log-scale range has no step (Optuna samples "
                          f"log ranges continuously or on integers)")
    if p.kind == "int":
        for part in ("low", "high", "step"):
            v = getattr(p, part)
            if v is not None and not float(v).is_integer():
                raise ConfigError(f"{where}.{part}: an int range needs integers, got {v!r}")
    for part in ("low", "high"):
        if not math.isfinite(float(getattr(p, part))):
            raise ConfigError(f"{where}.{part}: must be finite")
    if p.step is not None:
        n = (p.high - p.low) / p.step
        if abs(n - round(n)) > 1e-9 * max(1.0, abs(n)):
            raise ConfigError(f"{where}.step: high - low ({p.high - p.low:g}) is not a "
                              f"multiple of step {p.step!r}")
    return dataclasses.replace(p, keys=keys)


def _build_objective(field: Any, raw: Any, where: str) -> ObjectiveSpec:
    if not isinstance(field, str) or not field:
        raise ConfigError(f"{where}: {field!r} is not a report.json field")
    if isinstance(raw, str):
        raw = {"direction": raw}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected maximize, minimize or {{direction: .., bounds: "
                          f"[lo, hi]}}, got {raw!r}")
    obj = build(ObjectiveSpec, {"field": field, **raw}, where)
    if obj.bounds is not None and (len(obj.bounds) != 2 or not obj.bounds[0] < obj.bounds[1]):
        raise ConfigError(f"{where}.bounds: expected [low, high] with low < high, got "
                          f"{list(obj.bounds)}")
    return obj


def _build_fidelity(raw: Any, where: str) -> FidelitySpec | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected {{cheap: {{key: value}}, full: {{key: value}}}} "
                          f"or null, got {raw!r}")
    fid = build(FidelitySpec, raw, where)
    fid = dataclasses.replace(fid, **{
        side: FrozenDict(flatten(getattr(fid, side), where=f"{where}.{side}"))
        for side in ("cheap", "full")})
    if not fid.cheap:
        raise ConfigError(f"{where}.cheap: empty; name at least one recipe key, e.g. "
                          f"{{pretrain.epochs: 2}}")
    return fid


def check_fidelity_sides(fid: FidelitySpec, where: str = "dse.fidelity") -> None:
    """Cheap and full set the same keys, to different values somewhere (checked after the
    keys themselves, so that a misspelt key is reported as such)."""
    if set(fid.cheap) != set(fid.full):
        odd = sorted(set(fid.cheap) ^ set(fid.full))
        raise ConfigError(f"{where}: cheap and full must set the same keys; only one of them "
                          f"sets {', '.join(odd)}")
    if all(fid.cheap[k] == fid.full[k] for k in fid.cheap):
        raise ConfigError(f"{where}: cheap and full are the same evaluation")


def _entries(tree: Mapping, leaf_keys: set[str], where: str, prefix: str = "",
             out: dict | None = None) -> dict:
    """``{dotted name: spec}`` of a space or objectives mapping. ``--set dse.space.a.b=...``
    nests ``{a: {b: ...}}``: a mapping none of whose keys is a spec field is a section, and
    a spec set again this way is updated, not replaced."""
    out = {} if out is None else out
    for key, value in tree.items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"{where}: {key!r} is not a dotted recipe key")
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping) and value and not set(value) & leaf_keys:
            _entries(value, leaf_keys, where, name, out)
        elif isinstance(value, Mapping) and isinstance(out.get(name), Mapping):
            out[name] = {**out.pop(name), **value}
        else:
            out.pop(name, None)
            if value is not None:  # null drops an entry: --set dse.space.adapt.lr=null
                out[name] = value
    return out


def build_dse(raw: Any, where: str = "dse") -> DseConfig:
    """Validate the shape of a ``dse:`` block into a :class:`DseConfig`.

    Raises:
        ConfigError: one line starting with the key path (``dse.space.adapt.lr: ...``).
    """
    if raw is None:
        raise ConfigError(f"{where}: the recipe has no dse block (search space and "
                          f"objectives); see recipes/dse_har.yaml")
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {raw!r}")
    data = dict(raw)
    space, objectives = data.pop("space", None), data.pop("objectives", None)
    fidelity = data.pop("fidelity", None)
    cfg = build(DseConfig, data, where)
    if not isinstance(space, Mapping) or not space:
        raise ConfigError(f"{where}.space: empty search space; map at least one recipe key "
                          f"to a range or choices")
    if not isinstance(objectives, Mapping) or not objectives:
        raise ConfigError(f"{where}.objectives: none given; map report.json fields to "
                          f"maximize or minimize, e.g. accuracy.adapted: maximize")
    space = _entries(space, {f.name for f in dataclasses.fields(ParamSpec)}, f"{where}.space")
    objectives = _entries(objectives, {"direction", "bounds"}, f"{where}.objectives")
    params = {name: _build_param(name, p, f"{where}.space.{name}") for name, p in space.items()}
    owner: dict[str, str] = {}
    for name, p in params.items():
        for key in p.keys:
            if key in owner:
                raise ConfigError(f"{where}.space.{name}: sets {key}, which "
                                  f"{where}.space.{owner[key]} sets too")
            owner[key] = name
    objs = {f: _build_objective(f, o, f"{where}.objectives.{f}") for f, o in objectives.items()}
    fid = _build_fidelity(fidelity, f"{where}.fidelity")
    if fid is not None:
        for key in fid.cheap:
            if key in owner:
                raise ConfigError(f"{where}.fidelity: {key} is also searched "
                                  f"({where}.space.{owner[key]}); a key is one or the other")
    return dataclasses.replace(cfg, space=FrozenDict(params), objectives=FrozenDict(objs),
                               fidelity=fid)
