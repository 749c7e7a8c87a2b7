"""Recipes: one YAML file, validated into frozen dataclasses, plus ``--set`` overrides.

A recipe says everything ``snnx adapt`` needs: the hardware model, the transforms run before
deployment, the data, the network, off-chip pretraining, the on-line rule, evaluation and
monitoring. Loading is strict (DESIGN.md contract 4): an unknown key, a wrong type or an
out-of-range value raises :class:`~snnx.errors.ConfigError` with one line that starts with the
dotted key path, before any work is done. ``--set key.path=value`` overrides pass through the
same checks. This module imports only the standard library, PyYAML and snnx config modules.

Example:
    >>> from snnx.recipes import load_recipe
    >>> r = load_recipe("har_dfa", ["adapt.lr=5e-4"])
    >>> r.adapt.rule, r.adapt.lr
    ('dfa', 0.0005)
    >>> r.hw_config().name
    'rram_generic'
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

import snnx.hw.config as hwconfig
from snnx.configtools import build, set_path, shipped_dir, spec, to_dict
from snnx.transforms.registry import descriptions
from snnx.errors import ConfigError

_KW = dict(frozen=True, kw_only=True)

#: Transforms a recipe may name (snnx.transforms owns the implementations; their parameters
#: stay a free mapping here and are checked by the transform itself).
TRANSFORMS: dict[str, str] = descriptions()
# Parameter names that would put a secret in clear into config.resolved.yaml and the logs.
_SECRET_PARAMS = ("key", "secret", "password")


def _freeze_state(self: Any) -> dict:
    """Pickle/deepcopy state of a dataclass holding read-only mappings (mappingproxy cannot)."""
    return {f.name: dict(v) if isinstance(v, MappingProxyType) else v
            for f in dataclasses.fields(self) for v in [getattr(self, f.name)]}


def _thaw_state(self: Any, state: dict) -> None:
    for key, value in state.items():
        object.__setattr__(self, key, MappingProxyType(value) if isinstance(value, dict) else value)


def _flatten(tree: Mapping, prefix: str = "") -> dict[str, Any]:
    """Nested mapping -> {"a.b": leaf}; lists become tuples."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"hw.overrides: key {key!r} is not a dotted hardware key")
        full = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping) and value:
            out.update(_flatten(value, full))
        else:
            out[full] = tuple(value) if isinstance(value, list) else value
    return out


def _hw_error(msg: str, overrides: Mapping[str, Any], preset: str) -> str:
    """Re-prefix an error of snnx.hw.config with the key path it has inside a recipe."""
    path, _, rest = msg.partition(": ")
    if path == "hw":  # unknown preset, unreadable or malformed file
        return f"hw.preset: {rest}"
    for key in overrides:
        if path == key or path.startswith(key + "."):
            return f"hw.overrides.{path}: {rest}"
        if key.startswith(path + "."):
            return f"hw.overrides.{key}: {rest}"
    return f"hw.{path}: {rest} (in preset {preset})"


@dataclasses.dataclass(**_KW)
class HwSpec:
    """The hardware model: a preset plus dotted-key overrides (validated on construction)."""

    preset: str = spec("rram_generic", doc="preset name in hw_models/ (rram_generic, ideal, "
                                           "neurram, ...) or a path to a hardware YAML file")
    overrides: Mapping[str, Any] = spec(factory=dict,
                                        doc="hardware key -> value, e.g. noise.read_sigma: 0.02; "
                                            "each key and value is checked like the preset")

    __getstate__ = _freeze_state
    __setstate__ = _thaw_state

    def __post_init__(self) -> None:
        if not isinstance(self.overrides, Mapping):
            raise ConfigError(f"hw.overrides: expected a mapping, got {self.overrides!r}")
        object.__setattr__(self, "overrides", MappingProxyType(_flatten(self.overrides)))
        self.resolve()

    def resolve(self) -> hwconfig.HWConfig:
        """The validated hardware config this spec names.

        Raises:
            ConfigError: with the key path ``hw.preset``, ``hw.overrides.<key>`` or
                ``hw.<key>`` (a bad value inside the preset file).
        """
        try:
            return hwconfig.load(self.preset, **self.overrides)
        except ConfigError as e:
            raise ConfigError(_hw_error(str(e), self.overrides, self.preset)) from None


@dataclasses.dataclass(**_KW)
class TransformSpec:
    """One model -> model pass run before deployment. YAML: ``{name: mdm, <params>}``."""

    name: str = spec(doc="registered transform: " + ", ".join(sorted(TRANSFORMS)))
    params: Mapping[str, Any] = spec(factory=dict, doc="free parameters, checked by the transform")

    __getstate__ = _freeze_state
    __setstate__ = _thaw_state

    def __post_init__(self) -> None:
        if self.name not in TRANSFORMS:
            names = sorted(TRANSFORMS)
            close = difflib.get_close_matches(str(self.name), names, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"name: {self.name!r} is not a registered transform{hint} "
                              f"(registered: {', '.join(names)})")
        params = dict(self.params)
        for key in params:
            if not isinstance(key, str) or key == "name":
                raise ConfigError(f"{key}: not a valid transform parameter name")
            if key.lower() in _SECRET_PARAMS:
                raise ConfigError(f"{key}: secrets must not be written in a recipe (they would "
                                  f"be saved and logged); pass a key file path instead")
        object.__setattr__(self, "params", MappingProxyType(params))


@dataclasses.dataclass(**_KW)
class DataConfig:
    """Where the windows come from and how the target stream is ordered."""

    kind: str = spec("synthetic_har", choices=("synthetic_har", "uci_har", "hdf5", "digits"),
                     doc="synthetic_har (offline default) | uci_har | hdf5 | digits (sklearn)")
    path: str | None = spec(None, doc="uci_har: the 'UCI HAR Dataset' folder; hdf5: the file; "
                                      "ignored by synthetic_har and digits")
    source_subjects: int = spec(8, lo=1, hi=10000, doc="subjects for off-chip pretraining")
    target_subjects: int = spec(1, lo=1, hi=10000, doc="held-out subjects, streamed on-line")
    windows_per_activity: int = spec(40, lo=1, hi=100000,
                                     doc="synthetic_har: windows per subject and activity")
    test_fraction: float = spec(0.25, lo=0, hi=1, lo_open=True, hi_open=True,
                                doc="share of each subject's windows held out for evaluation "
                                    "(never streamed), in (0, 1)")
    label_rate: float = spec(1.0, lo=0, hi=1, lo_open=True,
                             doc="share of stream windows that arrive with a label (sparse "
                                 "user feedback), in (0, 1]")
    stream_order: str = spec("bouts", choices=("bouts", "shuffled", "given"),
                             doc="bouts: runs of one activity as a person moves | shuffled | "
                                 "given: file order (/t in hdf5)")
    standardize: bool = spec(True, doc="z-score each channel with source-set statistics")

    def __post_init__(self) -> None:
        if self.kind not in ("hdf5", "uci_har"):
            return
        if self.path is None:
            raise ConfigError(f"data.path: required when data.kind is {self.kind!r}")
        p = Path(self.path).expanduser()
        if self.kind == "hdf5" and not p.is_file():
            raise ConfigError(f"data.path: file not found: {self.path}")
        if self.kind == "uci_har" and not p.is_dir():
            raise ConfigError(f"data.path: folder not found: {self.path} (the unpacked "
                              f"'UCI HAR Dataset' folder)")


@dataclasses.dataclass(**_KW)
class ModelConfig:
    """The network: a spiking net (snn) or a multilayer perceptron (mlp) on analog tiles."""

    kind: str = spec("snn", choices=("snn", "mlp"), doc="snn | mlp")
    hidden: tuple[int, ...] = spec((128, 64), doc="hidden layer widths, each in [1, 65536]")
    activation: str = spec("relu", choices=("relu", "tanh", "sigmoid"), doc="mlp only")
    neuron: str = spec("leaky", choices=("leaky", "synaptic"), doc="snn: LIF neuron model")
    beta: float = spec(0.9, lo=0, hi=1, doc="snn: membrane decay per time step, in [0, 1]")
    threshold: float = spec(1.0, lo=0, lo_open=True, doc="snn: firing threshold (> 0)")
    timesteps: int = spec(16, lo=1, hi=10000, doc="snn: time steps per window")
    encoding: str = spec("direct", choices=("direct", "rate", "delta"),
                         doc="direct: analog input every step | rate: Bernoulli spikes | "
                             "delta: spikes on change (snn only unless direct)")
    readout: str = spec("membrane", choices=("membrane", "count"),
                        doc="output logits: mean membrane or spike count (count: snn only)")
    surrogate: str = spec("atan", choices=("atan", "fast_sigmoid"), doc="snn: surrogate gradient")
    surrogate_slope: float = spec(2.0, lo=0, lo_open=True, doc="snn: surrogate slope (> 0)")

    def __post_init__(self) -> None:
        if not self.hidden:
            raise ConfigError("model.hidden: must list at least one layer width, got []")
        for i, width in enumerate(self.hidden):
            if not 1 <= width <= 65536:
                raise ConfigError(f"model.hidden[{i}]: {width!r} is out of range [1, 65536]")
        if self.kind == "mlp" and self.encoding != "direct":
            raise ConfigError(f"model.encoding: {self.encoding!r} needs model.kind snn "
                              f"(an mlp reads its input directly)")
        if self.kind == "mlp" and self.readout != "membrane":
            raise ConfigError(f"model.readout: {self.readout!r} needs model.kind snn")


@dataclasses.dataclass(**_KW)
class PretrainConfig:
    """Off-chip (software) training on the source subjects before deployment."""

    epochs: int = spec(10, lo=0, hi=100000, doc="epochs; 0 = no pretraining")
    lr: float = spec(2e-3, lo=0, lo_open=True, hi=10, doc="Adam learning rate, in (0, 10]")
    batch_size: int = spec(64, lo=1, hi=1 << 20, doc="windows per batch")
    weight_decay: float = spec(0.0, lo=0, hi=1, doc="L2 weight decay, in [0, 1]")
    noise_injection: float = spec(0.0, lo=0, hi=1,
                                  doc="std of relative weight noise injected during training "
                                      "(hardware-aware pretraining); 0 = off")
    checkpoint: str | None = spec(None, doc="load this pretrained HDF5 checkpoint instead of "
                                            "training; null = train")

    def __post_init__(self) -> None:
        if self.checkpoint is not None and not Path(self.checkpoint).expanduser().is_file():
            raise ConfigError(f"pretrain.checkpoint: file not found: {self.checkpoint}")


@dataclasses.dataclass(**_KW)
class LogSGDConfig:
    """Analog log-domain SGD with L2 (METHODS.md section 8)."""

    lam: float = spec(1e-4, lo=0, hi=1, doc="L2 leak lambda per step, in [0, 1]")
    state_bits: int | None = spec(8, lo=1, hi=32, doc="integrator state resolution; null = exact")


@dataclasses.dataclass(**_KW)
class DFAConfig:
    """Direct feedback alignment (METHODS.md section 7)."""

    feedback: str = spec("uniform", choices=("uniform", "sign"),
                         doc="fixed feedback B: uniform U(-1,1)/sqrt(classes) | sign (+-1)")
    scale: float = spec(1.0, lo=0, lo_open=True, hi=1000, doc="multiplies B, in (0, 1000]")


@dataclasses.dataclass(**_KW)
class AdaptConfig:
    """On-line adaptation on the target stream, on the crossbar."""

    rule: str = spec("dfa", choices=("bp", "dfa", "logsgd"), doc="bp | dfa | logsgd")
    lr: float = spec(1e-3, lo=0, lo_open=True, hi=10, doc="learning rate, in (0, 10]")
    batch_size: int = spec(8, lo=1, hi=1 << 16, doc="labelled windows per on-chip update")
    passes: int = spec(1, lo=1, hi=1000, doc="passes over the target stream")
    label_rate: float = spec(1.0, lo=0, hi=1, lo_open=True,
                             doc="share of labelled arrivals the rule learns from (write "
                                 "budget), in (0, 1]; applies on top of data.label_rate")
    stream_order: str = spec("given", choices=("bouts", "shuffled", "given"),
                             doc="order within each pass: given = as the data stream emits "
                                 "it (data.stream_order) | shuffled | bouts")
    logsgd: LogSGDConfig = spec(factory=LogSGDConfig, doc="used when rule is logsgd")
    dfa: DFAConfig = spec(factory=DFAConfig, doc="used when rule is dfa")


@dataclasses.dataclass(**_KW)
class EvalConfig:
    """Evaluation on the held-out target windows."""

    mc_draws: int = spec(3, lo=1, hi=10000,
                         doc="hardware draws (variation, faults, noise) averaged per accuracy")
    every: int = spec(50, lo=0, hi=1 << 30,
                      doc="evaluate every N stream windows; 0 = only before and after")


@dataclasses.dataclass(**_KW)
class MonitorConfig:
    """What a run writes besides report.json."""

    tensorboard: bool = spec(True, doc="write tb/ event files")
    jsonl: bool = spec(True, doc="write metrics.jsonl")
    figures: bool = spec(True, doc="write PNG figures at the end")
    log_every: int = spec(10, lo=1, hi=1 << 30, doc="log scalars every N stream windows")
    histograms_every: int = spec(100, lo=0, hi=1 << 30,
                                 doc="conductance histograms every N windows; 0 = never")
    checkpoint_every: int = spec(20, lo=0, hi=1 << 30,
                                 doc="write checkpoints/step_N.h5 every N on-chip learning "
                                     "steps (and always at the end); 0 = only at the end")


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_DEVICE = re.compile(r"cpu|auto|mps|cuda(:\d+)?")


@dataclasses.dataclass(**_KW)
class Recipe:
    """A complete, validated recipe. Build it with :func:`load_recipe` or :func:`build_recipe`."""

    name: str = spec("recipe", doc="run name: runs go to runs/<name>/; default the file stem")
    description: str = spec("", doc="one line shown by `snnx ls`")
    seed: int = spec(0, lo=0, hi=2**32 - 1, doc="master seed of every generator in the run")
    device: str = spec("cpu", doc="torch device: cpu | cuda | cuda:N | mps | auto")
    hw: HwSpec = spec(factory=HwSpec, doc="preset name or path, or {preset, overrides}")
    transforms: tuple[TransformSpec, ...] = spec((), doc="passes run before deployment, in order")
    data: DataConfig = spec(factory=DataConfig, doc="source and target data")
    model: ModelConfig = spec(factory=ModelConfig, doc="the network")
    pretrain: PretrainConfig = spec(factory=PretrainConfig, doc="off-chip training")
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

    def hw_config(self) -> hwconfig.HWConfig:
        """The resolved hardware model (preset with the overrides applied)."""
        return self.hw.resolve()

    def to_dict(self) -> dict:
        """Plain nested dict in recipe YAML form (``hw`` as {preset, overrides})."""
        out = to_dict(self)
        out["transforms"] = [{"name": t.name, **to_dict(t.params)} for t in self.transforms]
        return out

    def to_yaml(self) -> str:
        """The resolved recipe as YAML text; :func:`load_recipe` reads it back to an equal one."""
        head = f"# resolved snnx recipe '{self.name}' (every key, defaults filled in)\n"
        return head + yaml.dump(self.to_dict(), Dumper=_Dumper, sort_keys=False, width=100,
                                allow_unicode=True)

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
    out = []
    for i, item in enumerate(value):
        where = f"transforms[{i}]"
        if isinstance(item, TransformSpec):
            out.append(item)
            continue
        if not isinstance(item, Mapping):
            raise ConfigError(f"{where}: expected a mapping {{name: ..., <params>}}, got {item!r}")
        if "name" not in item:
            raise ConfigError(f"{where}.name: required key is missing")
        if not isinstance(item["name"], str):
            raise ConfigError(f"{where}.name: expected a string, got {item['name']!r}")
        try:
            out.append(TransformSpec(name=item["name"],
                                     params={k: v for k, v in item.items() if k != "name"}))
        except ConfigError as e:
            raise ConfigError(f"{where}.{e}") from None
    return tuple(out)


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


# ------------------------------------------------------------------------------ YAML, files

class _Loader(yaml.SafeLoader):
    """SafeLoader that reads 1e-3 as a float (YAML 1.2 style) and refuses duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)):
                continue
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


class _Dumper(yaml.SafeDumper):
    """Block-style sections, flow-style lists: ``hidden: [128, 64]``."""


_Dumper.add_representer(list, lambda dumper, value: dumper.represent_sequence(
    "tag:yaml.org,2002:seq", value, flow_style=True))


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _read_yaml(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"recipe: cannot read {path} ({_one_line(e)})") from None
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"recipe: {path}{line}: {_one_line(e.problem or e.context)}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"recipe: {path}: invalid YAML ({_one_line(e)})") from None
    if data is None:
        raise ConfigError(f"recipe: {path} is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"recipe: {path} must hold a mapping at top level, got a "
                          f"{type(data).__name__}")
    return data


def recipes_dir() -> Path | None:
    """The folder of shipped recipes: repository ``recipes/`` or the installed copy."""
    return shipped_dir("recipes", "snnx.recipe_files")


def list_recipes() -> list[str]:
    """Names of the shipped recipes (relative paths without suffix, e.g. ``har_dfa``)."""
    root = recipes_dir()
    if root is None:
        return []
    files = [p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()]
    return sorted(p.relative_to(root).with_suffix("").as_posix() for p in files)


def recipe_name(path_or_name: str | Path) -> str:
    """The default run name of a recipe file: its stem (``recipes/har_dfa.yaml`` -> har_dfa)."""
    return Path(path_or_name).stem


def resolve_recipe_path(name_or_path: str | Path) -> Path:
    """Find a recipe: an existing path wins, else a shipped name (``har_dfa`` or ``har_dfa.yaml``).

    Raises:
        ConfigError: ``recipe: ...`` with the closest shipped name.
    """
    p = Path(name_or_path).expanduser()
    if p.is_file():
        return p
    if p.is_dir():
        raise ConfigError(f"recipe: {p} is a folder, not a recipe file")
    rel = p.as_posix()
    rel = rel[len("recipes/"):] if rel.startswith("recipes/") else rel
    root = recipes_dir()
    if root is not None and not p.is_absolute():
        for cand in (rel, rel + ".yaml", rel + ".yml"):
            if (root / cand).is_file():
                return root / cand
    names = list_recipes()
    stem = str(Path(rel).with_suffix("")) if Path(rel).suffix in (".yaml", ".yml") else rel
    close = difflib.get_close_matches(stem, names, n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise ConfigError(f"recipe: no such file or shipped recipe {str(name_or_path)!r}{hint} "
                      f"(shipped: {', '.join(names) or 'none'})")


# ------------------------------------------------------------------------------- overrides

def parse_override(text: str) -> tuple[str, Any]:
    """Split ``"a.b=value"`` into ``("a.b", value)``; the value is parsed as YAML.

    ``adapt.lr=1e-3`` gives 0.001, ``model.hidden=[64,32]`` a list, ``data.path=`` null.

    Raises:
        ConfigError: missing ``=``, empty key, empty part (``a..b``), spaces in the key, or a
            value that is not valid YAML.
    """
    if not isinstance(text, str):
        raise ConfigError(f"--set: expected 'key.path=value', got {text!r}")
    key, eq, raw = text.partition("=")
    key = key.strip()
    if not eq:
        raise ConfigError(f"{key or '--set'}: missing '=' in override {text!r}; write "
                          f"{key or 'key.path'}=VALUE")
    if not key:
        raise ConfigError(f"--set: empty key path in override {text!r}; write key.path=VALUE")
    if any(ch.isspace() for ch in key):
        raise ConfigError(f"{key}: spaces are not allowed in a key path ({text!r})")
    if "[" in key or "]" in key:
        raise ConfigError(f"{key}: list items cannot be set one by one; set the whole list, "
                          f"e.g. transforms=[{{name: mdm}}]")
    if not all(key.split(".")):
        raise ConfigError(f"{key}: empty part in key path (stray or doubled '.'); write e.g. "
                          f"adapt.lr=1e-3")
    try:
        value = yaml.load(raw, Loader=_Loader) if raw.strip() else None
    except yaml.YAMLError as e:
        why = _one_line(getattr(e, "problem", None) or e)
        raise ConfigError(f"{key}: cannot parse value {raw!r} as YAML ({why})") from None
    return key, value


def apply_overrides(data: Mapping[str, Any],
                    overrides: Iterable[str | tuple[str, Any]]) -> dict:
    """A deep copy of recipe ``data`` with ``key.path=value`` overrides applied (unvalidated).

    Keys under ``hw.overrides.`` set one dotted hardware key (``hw.overrides.noise.read_sigma``);
    a plain ``hw: name`` is widened to ``{preset: name}`` first so ``hw.preset=...`` works.
    Items may also be ``(key, value)`` pairs.
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
            current = _flatten(current)
            current[key[len("hw.overrides."):]] = value
            hw["overrides"] = current
            out["hw"] = hw
            continue
        out = set_path(out, key, value)
    return out


def load_recipe(path_or_name: str | Path, overrides: Iterable[str] = ()) -> Recipe:
    """Read, override and validate a recipe.

    Relative paths inside the recipe (an ``hw`` file, ``data.path``, ``pretrain.checkpoint``)
    are taken from the working folder, as on the command line.

    Args:
        path_or_name: a YAML path, or a shipped recipe name (``har_dfa``).
        overrides: ``key.path=value`` strings, applied in order (later wins).

    Returns:
        The validated, frozen :class:`Recipe`; ``name`` defaults to the file stem.

    Raises:
        ConfigError: one line starting with the key path (``recipe`` for file problems).
    """
    path = resolve_recipe_path(path_or_name)
    data = apply_overrides(_read_yaml(path), overrides)
    data.setdefault("name", recipe_name(path))
    return build_recipe(data)
