"""Recipes: shipped files, overrides, round trip, and a table of malformed recipes.

``MALFORMED`` is meant for reuse (e.g. by the CLI tests, which expect exit code 2 and the
same first line on stderr): :func:`materialize` turns a case into the recipe argument and the
``--set`` list to pass.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
import shlex
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

import snnx.pipeline.recipe as recipes
import snnx.pipeline.recipe_files as recipe_files
from snnx.config.overrides import parse_override
from snnx.config.schema import field_docs
from snnx.errors import ConfigError
from snnx.hw.config import HWConfig
from snnx.pipeline.recipe import Recipe, apply_overrides, build_recipe
from snnx.pipeline.recipe_files import list_recipes, load_recipe, recipe_name, resolve_recipe_path

RECIPES_DIR = Path(__file__).resolve().parents[2] / "recipes"
SHIPPED = sorted(p for p in RECIPES_DIR.rglob("*") if p.suffix in (".yaml", ".yml"))


class Bad(NamedTuple):
    """One malformed recipe or override and the key path its error must start with."""

    id: str
    text: str | None            # recipe YAML; None: pass ``name`` as the recipe argument
    sets: tuple[str, ...]       # --set overrides
    key: str                    # the one-line message starts with f"{key}: "
    says: str = ""              # and contains this
    name: str | None = None     # recipe argument when text is None


MISSING = "/nonexistent/snnx/recipe.yaml"
MALFORMED = [
    # unknown keys, at several depths, with and without a close match
    Bad("unknown-top-typo", "adpat: {lr: 0.1}\n", (), "adpat", "did you mean 'adapt'?"),
    Bad("unknown-nested-typo", "adapt: {lrr: 0.1}\n", (), "adapt.lrr", "did you mean 'lr'?"),
    Bad("unknown-depth3-typo", "adapt: {dfa: {feedbak: sign}}\n", (), "adapt.dfa.feedbak",
        "did you mean 'feedback'?"),
    Bad("unknown-no-match", "model: {xylophone: 1}\n", (), "model.xylophone", "valid keys:"),
    # bad choices
    Bad("bad-rule", "adapt: {rule: dfaa}\n", (), "adapt.rule",
        "'dfaa' is not one of bp, dfa, logsgd"),
    Bad("bad-data-kind", "data: {kind: csv}\n", (), "data.kind", "is not one of"),
    Bad("bad-neuron", "model: {snn: {neuron: izhikevich}}\n", (), "model.snn.neuron",
        "is not one of"),
    # wrong types
    Bad("str-for-float", "adapt: {lr: fast}\n", (), "adapt.lr", "expected a number"),
    Bad("float-for-int", "model: {snn: {timesteps: 2.5}}\n", (), "model.snn.timesteps",
        "expected an integer"),
    Bad("str-for-bool", "monitor: {tensorboard: maybe}\n", (), "monitor.tensorboard",
        "expected true or false"),
    Bad("hidden-not-list", "model: {hidden: 64}\n", (), "model.hidden", "expected a list"),
    Bad("hidden-str-item", "model: {hidden: [64, wide]}\n", (), "model.hidden[1]"),
    Bad("list-for-mapping", "adapt: [dfa]\n", (), "adapt", "expected a mapping"),
    Bad("scalar-for-mapping", "model: snn\n", (), "model", "expected a mapping"),
    # out of range
    Bad("negative-lr", "adapt: {lr: -1e-3}\n", (), "adapt.lr", "out of range"),
    Bad("zero-pretrain-lr", "pretrain: {lr: 0}\n", (), "pretrain.lr", "out of range"),
    Bad("label-rate-zero", "adapt: {label_rate: 0}\n", (), "adapt.label_rate", "out of range"),
    Bad("data-label-rate-big", "data: {label_rate: 1.5}\n", (), "data.label_rate", "out of range"),
    Bad("timesteps-zero", "model: {snn: {timesteps: 0}}\n", (), "model.snn.timesteps",
        "out of range"),
    Bad("test-fraction-one", "data: {test_fraction: 1}\n", (), "data.test_fraction"),
    Bad("mc-draws-zero", "eval: {mc_draws: 0}\n", (), "eval.mc_draws"),
    Bad("state-bits-zero", "adapt: {logsgd: {state_bits: 0}}\n", (), "adapt.logsgd.state_bits"),
    Bad("seed-negative", "seed: -1\n", (), "seed"),
    Bad("hidden-empty", "model: {hidden: []}\n", (), "model.hidden", "at least one"),
    Bad("hidden-zero-width", "model: {hidden: [64, 0]}\n", (), "model.hidden[1]", "out of range"),
    # cross-field checks and files named in the recipe
    Bad("hdf5-without-path", "data: {kind: hdf5}\n", (), "data.hdf5.path", "required"),
    Bad("hdf5-missing-file", f"data: {{kind: hdf5, hdf5: {{path: {MISSING}}}}}\n", (),
        "data.hdf5.path", "file not found"),
    Bad("uci-missing-folder", "data: {kind: uci_har, uci_har: {path: /nonexistent/UCI}}\n", (),
        "data.uci_har.path", "folder not found"),
    Bad("mlp-snn-parameter", "model: {kind: mlp, mlp: {encoding: rate}}\n", (),
        "model.mlp.encoding", "unknown key"),
    Bad("rule-param-typo", "adapt: {rule: logsgd, logsgd: {weight_decy: 0.1}}\n", (),
        "adapt.logsgd.weight_decy", "did you mean 'weight_decay'?"),
    Bad("rule-param-range", "adapt: {rule: logsgd, logsgd: {i_min: 1.0, i_max: 0.5}}\n", (),
        "adapt.logsgd.i_min", "must be < i_max"),
    Bad("data-param-typo", "data: {synthetic_har: {windows_per_activty: 3}}\n", (),
        "data.synthetic_har.windows_per_activty", "did you mean 'windows_per_activity'?"),
    Bad("transform-param-typo", "transforms: [{name: mdm, row: true}]\n", (),
        "transforms[0].row", "did you mean 'rows'?"),
    Bad("transform-param-type", "transforms: [{name: mdm, rows: 3}]\n", (),
        "transforms[0].rows", "expected true or false"),
    Bad("missing-checkpoint", f"pretrain: {{checkpoint: {MISSING}}}\n", (),
        "pretrain.checkpoint", "file not found"),
    Bad("bad-device", "device: gpu\n", (), "device", "not a torch device"),
    Bad("name-with-slash", "name: a/b\n", (), "name"),
    # hardware
    Bad("hw-unknown-preset", "hw: rram_genric\n", (), "hw", "did you mean 'rram_generic'?"),
    Bad("hw-unknown-preset-mapping", "hw: {preset: nope}\n", (), "hw.preset", "unknown preset"),
    Bad("hw-missing-file", f"hw: {MISSING}\n", (), "hw", "missing file"),
    Bad("hw-key-typo", "hw: {presett: ideal}\n", (), "hw.presett", "did you mean 'preset'?"),
    Bad("hw-section-not-under-overrides", "hw: {preset: ideal, noise: {prog_sigma: 0.1}}\n", (),
        "hw.noise", "hw.overrides"),
    Bad("hw-unknown-override", "hw: {preset: ideal, overrides: {noise.read.constant.sigm: 0.1}}\n",
        (), "hw.overrides.noise.read.constant.sigm", "did you mean 'sigma'?"),
    Bad("hw-unknown-noise-model", "hw: {preset: ideal, overrides: {noise.read.gaussian.sigma: 1}}\n",
        (), "hw.overrides.noise.read.gaussian.sigma", "unknown read-noise model; registered: "),
    Bad("hw-unknown-device-model", "hw: {preset: ideal, overrides: {device.model: pcm}}\n",
        (), "hw.overrides.device.model", "is not one of soft_bounded"),
    Bad("hw-override-out-of-range", "hw: {preset: ideal, overrides: {noise.read.constant.sigma: 5}}\n",
        (), "hw.overrides.noise.read.constant.sigma", "out of range"),
    Bad("hw-nested-override-unknown", "hw: {preset: ideal, overrides: {noise: {bogus: 1}}}\n",
        (), "hw.overrides.noise.bogus"),
    Bad("hw-number", "hw: 3\n", (), "hw", "expected a preset name"),
    # transforms
    Bad("transform-typo", "transforms: [{name: mdmm}]\n", (), "transforms[0].name",
        "did you mean 'mdm'?"),
    Bad("transform-no-name", "transforms: [{name: mdm}, {k: 1}]\n", (), "transforms[1].name",
        "required"),
    Bad("transforms-not-list", "transforms: mdm\n", (), "transforms", "expected a list"),
    Bad("transform-secret", "transforms: [{name: mdm, key: s3cret}]\n", (),
        "transforms[0].key", "secrets"),
    # --set goes through the same checks
    Bad("set-unknown-key", "seed: 0\n", ("adapt.lrr=0.1",), "adapt.lrr", "did you mean 'lr'?"),
    Bad("set-out-of-range", "seed: 0\n", ("adapt.lr=-1",), "adapt.lr", "out of range"),
    Bad("set-bad-choice", "seed: 0\n", ("model.kind=rnn",), "model.kind", "is not one of"),
    Bad("set-cross-field", "seed: 0\n", ("data.kind=hdf5",), "data.hdf5.path", "required"),
    Bad("set-hw-override", "hw: ideal\n", ("hw.overrides.noise.read.constant.sigm=0.1",),
        "hw.overrides.noise.read.constant.sigm"),
    Bad("set-hw-preset", "hw: ideal\n", ("hw.preset=nope",), "hw.preset", "unknown preset"),
    Bad("set-through-scalar", "seed: 0\n", ("seed.x=1",), "seed", "not a section"),
    # --set syntax
    Bad("set-no-equals", "seed: 0\n", ("adapt.lr",), "adapt.lr", "missing '='"),
    Bad("set-empty-key", "seed: 0\n", ("=3",), "--set", "empty key path"),
    Bad("set-double-dot", "seed: 0\n", ("adapt..lr=1",), "adapt..lr", "empty part"),
    Bad("set-leading-dot", "seed: 0\n", (".lr=1",), ".lr", "empty part"),
    Bad("set-space-in-key", "seed: 0\n", ("adapt lr=1",), "adapt lr", "spaces"),
    Bad("set-list-index", "seed: 0\n", ("transforms[0].k=1",), "transforms[0].k",
        "set the whole list"),
    Bad("set-bad-yaml-value", "seed: 0\n", ("model.hidden=[64,",), "model.hidden",
        "cannot parse value"),
    # the file itself
    Bad("yaml-unclosed-flow", "seed: 0\nadapt: {lr: 0.1\n", (), "recipe", "line 3"),
    Bad("yaml-bad-indent", "adapt:\n  lr: 0.1\n rule: dfa\n", (), "recipe", "line 3"),
    Bad("yaml-duplicate-key", "seed: 1\nseed: 2\n", (), "recipe", "duplicate key 'seed'"),
    Bad("empty-file", "", (), "recipe", "is empty"),
    Bad("comments-only", "# nothing here\n", (), "recipe", "is empty"),
    Bad("top-level-list", "- seed\n- 0\n", (), "recipe", "mapping at top level, got a list"),
    Bad("top-level-scalar", "just words\n", (), "recipe", "mapping at top level"),
    Bad("missing-file", None, (), "recipe", "no such file", name=MISSING),
    Bad("unknown-shipped-name", None, (), "recipe", "did you mean 'har_dfa'?", name="har_dfaa"),
]


def materialize(case: Bad, tmp_path: Path) -> tuple[str, list[str]]:
    """The recipe argument (a written file, or the case's name) and the --set list."""
    if case.text is None:
        return str(case.name), list(case.sets)
    path = tmp_path / "case.yaml"
    path.write_text(case.text, encoding="utf-8")
    return str(path), list(case.sets)


def test_table_is_big_and_ids_unique():
    assert len(MALFORMED) >= 30
    assert len({c.id for c in MALFORMED}) == len(MALFORMED)


@pytest.mark.parametrize("case", MALFORMED, ids=[c.id for c in MALFORMED])
def test_malformed_recipe_names_key_path_in_one_line(case, tmp_path):
    recipe, sets = materialize(case, tmp_path)
    with pytest.raises(ConfigError) as info:
        load_recipe(recipe, sets)
    msg = str(info.value)
    assert "\n" not in msg, msg
    assert msg.startswith(case.key + ": "), msg
    assert case.says in msg, msg


# ---------------------------------------------------------------------------- shipped files

def test_recipes_folder_is_not_empty():
    names = {p.stem for p in SHIPPED}
    assert {"har_dfa", "har_bp", "har_logsgd", "har_ann_dfa", "digits_dfa"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=[p.relative_to(RECIPES_DIR).as_posix()
                                               for p in SHIPPED])
def test_every_shipped_recipe_loads_and_round_trips(path, tmp_path):
    recipe = load_recipe(path)
    assert recipe.name == path.stem
    assert isinstance(recipe.hw_config(), HWConfig)
    assert recipe.description
    out = tmp_path / "config.resolved.yaml"
    out.write_text(recipe.to_yaml(), encoding="utf-8")
    assert load_recipe(out) == recipe  # the saved name survives a different file stem
    head = path.read_text(encoding="utf-8").split("\n\n")[0]
    assert "snnx adapt --recipe" in head and "--set" in head


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_header_set_examples_are_valid(path):
    head = path.read_text(encoding="utf-8").split("\n\n")[0]
    commands = [line.lstrip("#").strip().rstrip("\\") for line in head.splitlines()]
    words = shlex.split(" ".join(c for c in commands if c.startswith(("snnx ", "--set"))))
    sets = [words[i + 1] for i, w in enumerate(words) if w == "--set"]
    assert sets
    load_recipe(path, sets)


def test_list_recipes_walks_the_whole_tree():
    assert list_recipes() == sorted(p.relative_to(RECIPES_DIR).with_suffix("").as_posix()
                                    for p in SHIPPED)


def test_shipped_recipes_are_what_they_say():
    rules = {n: load_recipe(n) for n in ("har_dfa", "har_bp", "har_logsgd", "har_ann_dfa",
                                          "digits_dfa")}
    assert [r.adapt.rule for r in rules.values()] == ["dfa", "bp", "logsgd", "dfa", "dfa"]
    assert [r.model.kind for r in rules.values()] == ["snn", "snn", "snn", "mlp", "mlp"]
    assert rules["digits_dfa"].data.kind == "digits"
    # the three har rules differ only in the rule (and its own section)
    strip = ("adapt",)
    base = {k: v for k, v in rules["har_dfa"].to_dict().items() if k not in strip + ("name",
                                                                                  "description")}
    for other in ("har_bp", "har_logsgd"):
        d = {k: v for k, v in rules[other].to_dict().items() if k not in strip + ("name",
                                                                              "description")}
        assert d == base, other


# ------------------------------------------------------------------------- resolving names

def test_resolve_by_name_suffix_and_repo_path_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    expected = (RECIPES_DIR / "har_dfa.yaml").resolve()
    for arg in ("har_dfa", "har_dfa.yaml", "recipes/har_dfa.yaml"):
        assert resolve_recipe_path(arg).resolve() == expected


def test_existing_path_wins_over_shipped_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "har_dfa.yaml").write_text("seed: 7\n")
    assert load_recipe("har_dfa.yaml").seed == 7
    assert load_recipe("har_dfa").seed == 0  # no such file: the shipped recipe


def test_folder_is_not_a_recipe(tmp_path):
    with pytest.raises(ConfigError, match=r"^recipe: .* is a folder"):
        resolve_recipe_path(tmp_path)


def test_installed_copy_is_found_when_repo_folder_is_absent(tmp_path, monkeypatch):
    (tmp_path / "x.yaml").write_text("seed: 3\n")
    import snnx.config.yamlio as ct

    monkeypatch.setattr(ct, "__file__", str(tmp_path / "site" / "snnx" / "config" / "yamlio.py"))
    repo = Path(__file__).resolve().parents[2]
    specs = {"snnx.recipe_files": str(tmp_path), "snnx.presets": str(repo / "hw_models")}
    monkeypatch.setattr(ct.importlib.util, "find_spec", lambda name: type(
        "Spec", (), {"submodule_search_locations": [specs[name]]})())
    assert recipe_files.recipes_dir() == tmp_path
    assert list_recipes() == ["x"]
    assert load_recipe("x").seed == 3


def test_recipe_name_is_the_stem():
    assert recipe_name("recipes/har_dfa.yaml") == "har_dfa"


# ------------------------------------------------------------------------------ overrides

@pytest.mark.parametrize("text, key, value", [
    ("adapt.lr=1e-3", "adapt.lr", 0.001),
    ("adapt.lr=2.5E-4", "adapt.lr", 2.5e-4),
    ("model.hidden=[64, 32]", "model.hidden", [64, 32]),
    ("data.hdf5.path=", "data.hdf5.path", None),
    ("data.hdf5.path=null", "data.hdf5.path", None),
    ("monitor.jsonl=false", "monitor.jsonl", False),
    ("hw=ideal", "hw", "ideal"),
    ("description=a=b", "description", "a=b"),
    (" seed = 3", "seed", 3),
    ("transforms=[{name: mdm, k: 2}]", "transforms", [{"name": "mdm", "k": 2}]),
])
def test_parse_override(text, key, value):
    assert parse_override(text) == (key, value)


def test_yaml_exponent_without_dot_is_a_float(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("adapt: {lr: 2e-3}\npretrain: {lr: 1.0e-3, weight_decay: 5E-4}\n")
    r = load_recipe(path)
    assert (r.adapt.lr, r.pretrain.lr, r.pretrain.weight_decay) == (2e-3, 1e-3, 5e-4)


def test_overrides_apply_in_order_and_are_validated():
    r = load_recipe("har_dfa", ["adapt.lr=5e-4", "adapt.lr=2e-4", "model.hidden=[32]",
                                "adapt.rule=bp"])
    assert (r.adapt.lr, r.model.hidden, r.adapt.rule) == (2e-4, (32,), "bp")


def test_hw_overrides_by_set_and_resolved_config():
    r = load_recipe("har_dfa", ["hw.overrides.noise.read.constant.sigma=0.03",
                                "hw.overrides.periphery.adc_bits=6"])
    assert dict(r.hw.overrides) == {"noise.read.constant.sigma": 0.03, "periphery.adc_bits": 6}
    hw = r.hw_config()
    assert hw.noise.read["constant"].sigma == 0.03 and hw.periphery.adc_bits == 6


def test_commented_out_hw_overrides_are_empty(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("hw:\n  preset: ideal\n  overrides:\n    # noise.read.constant.sigma: 0.02\n")
    assert dict(load_recipe(path).hw.overrides) == {}


def test_set_widens_plain_hw_and_later_flat_key_wins():
    data = {"hw": "ideal"}
    out = apply_overrides(data, ["hw.overrides.noise.read.constant.sigma=0.01"])
    assert out == {"hw": {"preset": "ideal", "overrides": {"noise.read.constant.sigma": 0.01}}}
    assert data == {"hw": "ideal"}  # input untouched
    nested = {"hw": {"preset": "ideal", "overrides": {"noise": {"read": {"constant":
                                                                        {"sigma": 0.02}}}}}}
    out = apply_overrides(nested, ["hw.overrides.noise.read.constant.sigma=0.04"])
    assert build_recipe(out).hw_config().noise.read["constant"].sigma == 0.04
    assert build_recipe(apply_overrides(nested, ["hw=rram_generic"])).hw.preset == "rram_generic"


def test_replace_validates():
    r = load_recipe("har_dfa")
    assert r.replace("adapt.lr=1e-4").adapt.lr == 1e-4
    assert r.replace(**{"model.hidden": [16]}).model.hidden == (16,)
    with pytest.raises(ConfigError, match=r"^adapt\.lr: "):
        r.replace("adapt.lr=0")


# ---------------------------------------------------------------------------- the dataclasses

def test_minimal_recipe_uses_defaults():
    r = build_recipe({})
    assert r == Recipe()
    assert r.hw.preset == "rram_generic" and r.adapt.rule == "dfa" and r.transforms == ()


def test_recipe_is_frozen_picklable_and_copyable():
    r = load_recipe("har_dfa", ["transforms=[{name: mdm, rows: false}]",
                                "hw.overrides.noise.read.constant.sigma=0.02"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.seed = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        r.hw.overrides["noise.read.constant.sigma"] = 1.0  # type: ignore[index]
    assert pickle.loads(pickle.dumps(r)) == r
    assert copy.deepcopy(r) == r
    from snnx.transforms.mdm import Params

    assert r.transforms[0].params == Params(rows=False)
    assert r.to_dict()["transforms"] == [{"name": "mdm", "rows": False, "columns": True,
                                          "weight_by_significance": False, "reverse": False}]


def test_every_field_is_documented():
    classes = [recipes.Recipe, recipes.HwSpec, recipes.TransformSpec, recipes.DataConfig,
               recipes.ModelConfig, recipes.PretrainConfig, recipes.AdaptConfig,
               recipes.EvalConfig, recipes.MonitorConfig]
    for cls in classes:
        assert cls.__dataclass_params__.frozen, cls
        for f in dataclasses.fields(cls):
            assert f.kw_only, f"{cls.__name__}.{f.name} is not keyword-only"
            assert f.metadata.get("doc"), f"{cls.__name__}.{f.name} has no doc"
    assert all(doc for _key, _default, doc in field_docs(Recipe))


def test_import_does_not_pull_torch():
    code = ("import sys, snnx.pipeline.recipe, snnx.pipeline.recipe_files; "
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
