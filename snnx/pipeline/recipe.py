"""Recipes: one YAML file, validated into frozen dataclasses, plus ``--set`` overrides.

A recipe says everything ``snnx adapt`` needs: the hardware model, the transforms run before
deployment, the data, the network, off-chip pretraining, the on-line rule, evaluation and
monitoring. Loading is strict (DESIGN.md contract 4): an unknown key, a wrong type or an
out-of-range value raises :class:`~snnx.errors.ConfigError` with one line that starts with the
dotted key path, before any work is done. ``--set key.path=value`` overrides pass through the
same checks.

Pluggable parts are registry entries with their own parameters, set beside the choice under
the entry's name: ``data.kind: synthetic_har`` + ``data.synthetic_har: {...}``,
``model.kind: snn`` + ``model.snn: {...}``, ``adapt.rule: dfa`` + ``adapt.dfa: {...}``;
transforms are ``{name: mdm, <its parameters>}``. Importing this module needs no torch;
validating a rule's or a model's parameters imports the entry's module.

Example:
    >>> from snnx.pipeline.recipe_files import load_recipe
    >>> r = load_recipe("har_dfa", ["adapt.lr=5e-4", "adapt.dfa.feedback=sign"])
    >>> r.adapt.rule, r.adapt.lr, r.rule_params.feedback
    ('dfa', 0.0005, 'sign')
    >>> r.hw_config().name
    'rram_generic'
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Any

import snnx.hw.config as hwconfig
from snnx.config.overrides import flatten, parse_override, set_path
from snnx.config.schema import KW, FrozenDict, blocks, build, choice, chosen, spec, to_dict
from snnx.config.secrets import is_secret
from snnx.config.yamlio import dump
from snnx.data.registry import DATASETS
from snnx.errors import ConfigError
from snnx.hw.presets import load as load_hw
from snnx.learn import RULES
from snnx.nn import MODELS
from snnx.pipeline import recipe_realism
from snnx.pipeline.recipe_sections import EvalConfig, MonitorConfig, PretrainConfig
from snnx.transforms import TRANSFORMS


def _hw_error(msg: str, overrides: Mapping[str, Any], preset: str) -> str:
    """Re-prefix an error of the hardware loader with the key path it has in a recipe."""
    path, _, rest = msg.partition(": ")
    if path == "hw":  # unknown preset, unreadable or malformed file
        return f"hw.preset: {rest}"
    for key in overrides:
        if path == key or path.startswith(key + "."):
            return f"hw.overrides.{path}: {rest}"
        if key.startswith(path + "."):
            return f"hw.overrides.{key}: {rest}"
    return f"hw.{path}: {rest} (in preset {preset})"


@dataclasses.dataclass(**KW)
class HwSpec:
    """The hardware model: a preset plus dotted-key overrides (validated on construction)."""

    preset: str = spec("rram_generic", doc="preset name in hw_models/ (rram_generic, ideal, "
                                           "neurram, ...) or a path to a hardware YAML file")
    overrides: Mapping[str, Any] = spec(factory=FrozenDict,
                                        doc="hardware key -> value, e.g. "
                                            "noise.read.constant.sigma: 0.02; each key and "
                                            "value is checked like the preset")

    def __post_init__(self) -> None:
        if not isinstance(self.overrides, Mapping):
            raise ConfigError(f"hw.overrides: expected a mapping, got {self.overrides!r}")
        object.__setattr__(self, "overrides",
                           FrozenDict(flatten(self.overrides, where="hw.overrides")))
        self.resolve()

    def resolve(self) -> hwconfig.HWConfig:
        """The validated hardware config this spec names.

        Raises:
            ConfigError: with the key path ``hw.preset``, ``hw.overrides.<key>`` or
                ``hw.<key>`` (a bad value inside the preset file).
        """
        try:
            return load_hw(self.preset, **self.overrides)
        except ConfigError as e:
            raise ConfigError(_hw_error(str(e), self.overrides, self.preset)) from None


@dataclasses.dataclass(**KW)
class TransformSpec:
    """One model -> model pass run before deployment. YAML: ``{name: mdm, <params>}``."""

    name: str = spec(doc="registered transform: " + ", ".join(TRANSFORMS.names()))
    params: Any = spec(None, doc="the transform's Params")

    @classmethod
    def build(cls, item: Any, where: str) -> "TransformSpec":
        """From a YAML item ``{name: ..., <params>}`` (errors start with ``where``)."""
        if isinstance(item, TransformSpec):
            return item
        if not isinstance(item, Mapping):
            raise ConfigError(f"{where}: expected a mapping {{name: ..., <params>}}, got {item!r}")
        if "name" not in item:
            raise ConfigError(f"{where}.name: required key is missing")
        name = item["name"]
        if not isinstance(name, str):
            raise ConfigError(f"{where}.name: expected a string, got {name!r}")
        TRANSFORMS.check(name, f"{where}.name")
        raw = {k: v for k, v in item.items() if k != "name"}
        for key in raw:
            if is_secret(key):
                raise ConfigError(f"{where}.{key}: secrets must not be written in a recipe "
                                  f"(they would be saved and logged); pass a key file path "
                                  f"instead")
        return cls(name=name, params=TRANSFORMS.params(name, raw, where))


@dataclasses.dataclass(**KW)
class DataConfig:
    """Where the windows come from and how the target stream is ordered."""

    kind: str = choice(DATASETS, "synthetic_har",
                       doc="data source (snnx.data.DATASETS); its parameters sit beside it")
    source_subjects: int = spec(8, lo=1, hi=10000, doc="subjects for off-chip pretraining")
    target_subjects: int = spec(1, lo=1, hi=10000, doc="held-out subjects, streamed on-line")
    test_fraction: float = spec(0.25, lo=0, hi=1, lo_open=True, hi_open=True,
                                doc="share of each subject's windows held out for evaluation "
                                    "(never streamed), in (0, 1)")
    target_test_fraction: float | None = spec(None, lo=0, hi=1, lo_open=True, hi_open=True,
                                              doc="the same for the target subjects' windows "
                                                  "(deployed, adapted); null = test_fraction")
    label_rate: float = spec(1.0, lo=0, hi=1, lo_open=True,
                             doc="share of stream windows that arrive with a label (sparse "
                                 "user feedback), in (0, 1]")
    stream_order: str = spec("bouts", choices=("bouts", "shuffled", "given"),
                             doc="bouts: runs of one activity as a person moves | shuffled | "
                                 "given: file order (/t in hdf5)")
    standardize: bool = spec(True, doc="z-score each channel with source-set statistics")
    params: Mapping[str, Any] = blocks()


@dataclasses.dataclass(**KW)
class ModelConfig:
    """The network on analog tiles: a registered kind (snn, mlp) with its parameters."""

    kind: str = choice(MODELS, "snn", doc="network kind (snnx.nn.MODELS); its parameters "
                                          "sit beside it")
    hidden: tuple[int, ...] = spec((128, 64), doc="hidden layer widths, each in [1, 65536]")
    params: Mapping[str, Any] = blocks()

    def __post_init__(self) -> None:
        if not self.hidden:
            raise ConfigError("model.hidden: must list at least one layer width, got []")
        for i, width in enumerate(self.hidden):
            if not 1 <= width <= 65536:
                raise ConfigError(f"model.hidden[{i}]: {width!r} is out of range [1, 65536]")


@dataclasses.dataclass(**KW)
class AdaptConfig:
    """On-line adaptation on the target stream, on the crossbar."""

    rule: str = choice(RULES, "dfa", doc="on-line rule (snnx.learn.RULES); its parameters sit "
                                         "beside it")
    lr: float = spec(1e-3, lo=0, lo_open=True, hi=10, doc="learning rate, in (0, 10]")
    batch_size: int = spec(8, lo=1, hi=1 << 16, doc="labelled windows per on-chip update")
    passes: int = spec(1, lo=1, hi=1000, doc="passes over the target stream")
    label_rate: float = spec(1.0, lo=0, hi=1, lo_open=True,
                             doc="share of labelled arrivals the rule learns from (write "
                                 "budget), in (0, 1]; applies on top of data.label_rate")
    stream_order: str = spec("given", choices=("bouts", "shuffled", "given"),
                             doc="order within each pass: given = as the data stream emits "
                                 "it (data.stream_order) | shuffled | bouts")
    params: Mapping[str, Any] = blocks()


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_DEVICE = re.compile(r"cpu|auto|mps|cuda(:\d+)?")


@dataclasses.dataclass(**KW)
class Recipe:
    """A complete, validated recipe. Build it with
    :func:`~snnx.pipeline.recipe_files.load_recipe` or :func:`build_recipe`."""

    name: str = spec("recipe", doc="run name: runs go to runs/<name>/; default the file stem")
    description: str = spec("", doc="one line shown by `snnx recipes list`")
    seed: int = spec(0, lo=0, hi=2**32 - 1, doc="master seed of every generator in the run")
    device: str = spec("cpu", doc="torch device: cpu | cuda | cuda:N | mps | auto")
    hw: HwSpec = spec(factory=HwSpec, doc="preset name or path, or {preset, overrides}")
    transforms: tuple[TransformSpec, ...] = spec((), doc="passes run before deployment, in order")
    data: DataConfig = spec(factory=DataConfig, doc="source and target data")
    model: ModelConfig = spec(factory=ModelConfig, doc="the network")
    pretrain: PretrainConfig = spec(factory=PretrainConfig, doc="off-chip training")
    finetune: recipe_realism.FinetuneConfig = spec(factory=recipe_realism.default,
                                                   doc="chip-in-the-loop fine-tuning")
    adapt: AdaptConfig = spec(factory=AdaptConfig, doc="on-line, on-chip learning")
    eval: EvalConfig = spec(factory=EvalConfig, doc="evaluation")
    monitor: MonitorConfig = spec(factory=MonitorConfig, doc="logs and figures")

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ConfigError(f"name: {self.name!r} must be a plain folder name (letters, "
                              f"digits, _ . -)")
        if not _DEVICE.fullmatch(self.device):
            raise ConfigError(f"device: {self.device!r} is not a torch device; use cpu, cuda, "
                              f"cuda:N, mps or auto")
        recipe_realism.check(self)

    def hw_config(self) -> hwconfig.HWConfig:
        """The resolved hardware model (preset with the overrides applied)."""
        return self.hw.resolve()

    @property
    def data_params(self) -> Any:
        """The Params of the chosen data source."""
        return chosen(self.data, "kind")

    @property
    def model_params(self) -> Any:
        """The Params of the chosen network kind."""
        return chosen(self.model, "kind")

    @property
    def rule_params(self) -> Any:
        """The Params of the chosen on-line rule (None when it has none)."""
        return chosen(self.adapt, "rule")

    def to_dict(self) -> dict:
        """Plain nested dict in recipe YAML form (``hw`` as {preset, overrides})."""
        out = to_dict(self)
        out["transforms"] = [{"name": t.name, **(to_dict(t.params) or {})}
                             for t in self.transforms]
        return out

    def to_yaml(self) -> str:
        """The resolved recipe as YAML text; :func:`load_recipe` reads it back to an equal one."""
        return dump(self.to_dict(), f"# resolved snnx recipe '{self.name}' (every key, "
                                    f"defaults filled in)\n")

    def replace(self, *sets: str, **dotted: Any) -> "Recipe":
        """A validated copy with overrides, e.g. ``r.replace("adapt.lr=1e-4")`` or
        ``r.replace(**{"model.hidden": [32]})``."""
        return build_recipe(apply_overrides(self.to_dict(), [*sets, *dotted.items()]))


# ------------------------------------------------------------------------------- building

def _build_hw(value: Any) -> HwSpec:
    if isinstance(value, HwSpec):
        return value
    if isinstance(value, str):
        try:
            return HwSpec(preset=value)
        except ConfigError as e:
            raise ConfigError(re.sub(r"^hw\.preset:", "hw:", str(e))) from None
    if isinstance(value, Mapping):
        sections = {f.name for f in dataclasses.fields(hwconfig.HWConfig)}
        for key in value:
            if key not in ("preset", "overrides") and key in sections:
                raise ConfigError(f"hw.{key}: unknown key; hardware keys go under hw.overrides, "
                                  f"e.g. hw.overrides.{key}.<field>")
        if "overrides" in value and value["overrides"] is None:  # all entries commented out
            value = {**value, "overrides": {}}
        return build(HwSpec, value, "hw")
    raise ConfigError(f"hw: expected a preset name, a YAML path or a mapping {{preset, "
                      f"overrides}}, got {value!r}")


def _build_transforms(value: Any) -> tuple[TransformSpec, ...]:
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"transforms: expected a list of {{name: ..., <params>}} mappings, "
                          f"got {value!r}")
    return tuple(TransformSpec.build(item, f"transforms[{i}]") for i, item in enumerate(value))


def build_recipe(data: Mapping[str, Any]) -> Recipe:
    """Validate a recipe given as a nested mapping (the parsed YAML) into a :class:`Recipe`.

    Raises:
        ConfigError: one line starting with the dotted key path of the first bad key.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"recipe: expected a mapping at top level, got {data!r}")
    prepared = dict(data)
    if "hw" in prepared:
        prepared["hw"] = _build_hw(prepared["hw"])
    if "transforms" in prepared:
        prepared["transforms"] = _build_transforms(prepared["transforms"])
    return build(Recipe, prepared)


# ------------------------------------------------------------------------------- overrides

def apply_overrides(data: Mapping[str, Any],
                    overrides: Iterable[str | tuple[str, Any]]) -> dict:
    """A deep copy of recipe ``data`` with ``key.path=value`` overrides applied (unvalidated).

    Keys under ``hw.overrides.`` set one dotted hardware key
    (``hw.overrides.noise.read.constant.sigma``); a plain ``hw: name`` is widened to
    ``{preset: name}`` first so ``hw.preset=...`` works. Items may also be ``(key, value)``
    pairs.
    """
    out = copy.deepcopy(dict(data))
    if isinstance(overrides, str):
        overrides = [overrides]
    for item in overrides:
        if isinstance(item, str):
            key, value = parse_override(item)
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            key, value = item
        else:
            raise ConfigError(f"--set: expected 'key.path=value' or a (key, value) pair, "
                              f"got {item!r}")
        if key.startswith("hw.") and (out.get("hw") is None or isinstance(out["hw"], str)):
            out["hw"] = {} if out.get("hw") is None else {"preset": out["hw"]}
        if key.startswith("hw.overrides.") and isinstance(out["hw"], Mapping):
            hw = dict(out["hw"])
            current = hw.get("overrides") or {}
            if not isinstance(current, Mapping):
                raise ConfigError(f"hw.overrides: expected a mapping, got {current!r}")
            current = flatten(current, where="hw.overrides")
            current[key[len("hw.overrides."):]] = value
            hw["overrides"] = current
            out["hw"] = hw
            continue
        out = set_path(out, key, value)
    return out
