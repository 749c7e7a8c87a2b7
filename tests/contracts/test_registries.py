"""Contract checks run over EVERY registry entry (river's ``check_estimator`` idea).

A new rule, transform, dataset, network kind, device model, read-noise model, programming
scheme or command joins these checks by its registry line alone; each case is named
``registry:entry:check``.
"""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import snnx.hw as hw
from snnx.cli import COMMANDS, main
from snnx.config.schema import build
from snnx.data import DATASETS, WindowDataset, load_dataset, save_hdf5
from snnx.errors import ConfigError
from snnx.hw.devices import DEVICES
from snnx.hw.drift import DRIFT
from snnx.hw.noise import NOISE
from snnx.hw.programming import PROGRAMMING
from snnx.learn import RULES, make_rule
from snnx.nn import MLP, MODELS
from snnx.transforms import TRANSFORMS, apply_transforms

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))  # uci_fake_folder

REGISTRIES = {"rule": RULES, "transform": TRANSFORMS, "dataset": DATASETS, "model": MODELS,
              "device": DEVICES, "noise": NOISE, "programming": PROGRAMMING, "drift": DRIFT}
ENTRIES = [(kind, name) for kind, reg in REGISTRIES.items() for name in reg]


def _ids(cases):
    return [f"{k}:{n}" for k, n in cases]


# ------------------------------------------------------------------ every entry
@pytest.mark.parametrize("kind, name", ENTRIES, ids=_ids(ENTRIES))
def test_entry_has_a_description_and_documented_frozen_params(kind, name):
    entry = REGISTRIES[kind].entry(name)
    assert entry.description, f"{kind} {name}: give the registry line a description"
    params = entry.params
    if params is None:
        return
    assert dataclasses.is_dataclass(params) and params.__dataclass_params__.frozen
    for f in dataclasses.fields(params):
        assert f.kw_only, f"{name}.{f.name} is not keyword-only"
        assert f.metadata.get("doc"), f"{kind} {name}: Params.{f.name} has no doc"
    required = [f.name for f in dataclasses.fields(params)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if required:
        with pytest.raises(ConfigError, match=f"^p.{required[0]}: required key is missing"):
            build(params, {}, "p")
    else:
        defaults = build(params, {})
        assert dataclasses.replace(defaults) == defaults and hash(defaults) == hash(
            build(params, {}))


@pytest.mark.parametrize("kind, name", ENTRIES, ids=_ids(ENTRIES))
def test_bad_parameter_is_one_line_naming_the_key(kind, name):
    reg = REGISTRIES[kind]
    with pytest.raises(ConfigError) as e:
        reg.params(name, {"no_such_parameter": 1}, f"where.{name}")
    msg = str(e.value)
    assert "\n" not in msg
    if reg.entry(name).params is None:
        assert msg.startswith(f"where.{name}: ") and "takes no parameters" in msg
    else:
        assert msg.startswith(f"where.{name}.no_such_parameter: unknown key")


@pytest.mark.parametrize("kind", sorted(REGISTRIES))
def test_unknown_name_suggests_the_closest(kind):
    reg = REGISTRIES[kind]
    name = reg.names()[0]
    with pytest.raises(ConfigError, match=rf"^k: '{name}x' is not one of .*did you mean "
                                          rf"'{name}'\?"):
        reg.check(name + "x", "k")


HW_PLUGINS = [(k, n) for k, n in ENTRIES if k in ("device", "noise", "programming", "drift")]


@pytest.mark.parametrize("kind, name", HW_PLUGINS, ids=_ids(HW_PLUGINS))
def test_hardware_plugin_modules_import_without_torch(kind, name):
    """Validating a hardware model (snnx hw show, recipes) must stay torch-free."""
    target = REGISTRIES[kind].entry(name).target
    module = target.split(":")[0]
    code = f"import sys, {module}; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------ rules
def _tiny(seed=0):
    net = MLP([5, 7, 3], seed=seed).to_analog(hw.load("ideal"), seed=seed)
    g = torch.Generator().manual_seed(seed)
    return net, torch.randn(6, 5, generator=g), torch.tensor([0, 1, 2, 0, 1, 2])


@pytest.mark.parametrize("name", RULES.names())
def test_rule_constructor_takes_lr_seed_and_exactly_its_params(name):
    cls = RULES[name]
    params = RULES.entry(name).params
    sig = inspect.signature(cls)
    kwargs = {p for p in sig.parameters if p not in ("lr", "seed", "self")}
    fields = set() if params is None else {f.name for f in dataclasses.fields(params)}
    assert kwargs == fields, f"{name}: constructor keywords {kwargs} != Params {fields}"
    assert "lr" in sig.parameters and "seed" in sig.parameters


@pytest.mark.parametrize("name", RULES.names())
def test_rule_seeding_and_state_round_trip(name):
    results = []
    for _ in range(2):
        net, x, y = _tiny()
        rule = make_rule(name, lr=0.05, seed=3)
        for _ in range(2):
            rule.step(net, x, y)
        results.append(torch.cat([lyr.tile.read_weight().flatten() for lyr in net.layers]))
    assert torch.equal(results[0], results[1]), "same seed, same result"
    net, x, y = _tiny()
    rule = make_rule(name, lr=0.05, seed=3)
    rule.step(net, x, y)
    state = rule.state_dict()
    twin = make_rule(name, lr=0.5, seed=99)
    twin.load_state_dict(state)
    twin.bind(net)
    assert _same(twin.state_dict(), state)
    assert repr(rule).startswith(type(rule).__name__ + "(")


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    return a == b


# ------------------------------------------------------------------ transforms
@pytest.mark.parametrize("name", TRANSFORMS.names())
def test_transform_is_pure_and_seeded(name):
    net, x, _ = _tiny()
    before = [lyr.tile.conductances.clone() for lyr in net.layers]
    spec = type("Spec", (), {"name": name, "params": {}})()
    out1 = apply_transforms(net, [spec], calib=x, seed=5)
    out2 = apply_transforms(net, [spec], calib=x, seed=5)
    for lyr, G in zip(net.layers, before):
        assert torch.equal(lyr.tile.conductances, G), f"{name} changed its input model"
    assert out1 is not net
    with torch.no_grad():
        assert torch.equal(out1.record(x).logits, out2.record(x).logits)


# ------------------------------------------------------------------ datasets
@pytest.mark.parametrize("name", DATASETS.names())
def test_dataset_opens_reproducibly(name, tmp_path):
    params = {}
    if name == "hdf5":
        small = load_dataset("synthetic_har", {"windows_per_activity": 2}, seed=0,
                             source_subjects=1, target_subjects=1)
        params = {"path": str(save_hdf5(small, tmp_path / "d.h5"))}
    elif name == "uci_har":
        from uci_fake_folder import write_fake_uci

        params = {"path": str(write_fake_uci(tmp_path / "UCI HAR Dataset"))}
    elif name == "synthetic_har":
        params = {"windows_per_activity": 2}
    ds = load_dataset(name, params, seed=2, source_subjects=1, target_subjects=1)
    assert isinstance(ds, WindowDataset) and len(ds) > 0 and ds.X.ndim == 3
    assert np.all(np.isfinite(ds.X))
    again = load_dataset(name, params, seed=2, source_subjects=1, target_subjects=1)
    assert np.array_equal(ds.X, again.X) and np.array_equal(ds.y, again.y)


# ------------------------------------------------------------------ network kinds
@pytest.mark.parametrize("name", MODELS.names())
def test_model_kind_builds_runs_and_goes_on_tiles(name):
    cls = MODELS[name]
    params = build(MODELS.entry(name).params, {})
    m = cls.window_multiple(params)
    assert isinstance(m, int) and m >= 1
    window = 4 * m
    net = cls.from_params(params, channels=3, window=window, classes=4, hidden=(8,), seed=1)
    x = torch.randn(5, window, 3)
    x = x.reshape(5, -1) if cls.flat_input else x
    assert net(x).shape == (5, 4)
    ana = net.to_analog(hw.load("ideal"))
    with torch.no_grad():
        assert torch.allclose(ana(x), net(x), atol=1e-4)
    twin = cls.from_params(params, channels=3, window=window, classes=4, hidden=(8,), seed=1)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(),
                                                twin.state_dict().values()))


# ------------------------------------------------------------------ hardware plugins
@pytest.mark.parametrize("name", DEVICES.names())
def test_device_model_pulses(name):
    cfg = hw.load("rram_generic", **{"device.model": name})
    model = DEVICES[name](cfg.device_params, cfg.device)
    g = torch.linspace(0.05, 0.6, 20, dtype=torch.float64)
    n = torch.full_like(g, 3.0)
    same = model.pulse(g, torch.zeros_like(g), 0.05, depress=None, gain=None, noise=None)
    assert torch.allclose(same, g), "zero pulses leave the state alone"
    up = model.pulse(g, n, 0.05, depress=None, gain=None, noise=None)
    down = model.pulse(g, n, 0.05, depress=torch.ones_like(g, dtype=torch.bool), gain=None,
                       noise=None)
    assert bool((up >= g).all() and (down <= g).all()), "SET raises, RESET lowers g"
    far = model.pulse(g, n * 1000, 0.05, depress=None, gain=None, noise=None)
    assert bool(((far >= 0) & (far <= 1)).all())
    v1 = model.variation((4, 5), torch.Generator().manual_seed(1), "cpu", torch.float64)
    v2 = model.variation((4, 5), torch.Generator().manual_seed(1), "cpu", torch.float64)
    assert (v1 is None) == (v2 is None) and (v1 is None or torch.equal(v1, v2))
    assert isinstance(DEVICES[name].is_ideal(cfg.device_params), bool)


@pytest.mark.parametrize("name", NOISE.names())
def test_noise_model_variances(name):
    cfg = hw.load("rram_generic", **{f"noise.read.{name}": {}})
    model = NOISE[name](cfg.noise.read[name], cfg)
    assert model.constant() >= 0
    gp, gn = torch.rand(4, 3, dtype=torch.float64), torch.rand(4, 3, dtype=torch.float64)
    pair, cell = model.pair(gp, gn), model.cell(gp)
    for v in (pair, cell):
        assert v is None or (v.shape == gp.shape and bool((v >= 0).all()))
    s0, s1 = model.output()
    assert s0 >= 0 and s1 >= 0
    shift = model.shift(gp)
    assert shift is None or (shift.shape == gp.shape and bool(torch.isfinite(shift).all()))
    draws = [model.sample(gp, torch.Generator().manual_seed(2)) for _ in range(2)]
    assert (draws[0] is None) == (draws[1] is None)
    if draws[0] is not None:
        assert draws[0].shape == gp.shape and torch.equal(draws[0], draws[1]), "seeded"


STATEFUL = [n for n in DEVICES.names() if callable(getattr(DEVICES[n], "init_state", None))]


@pytest.mark.parametrize("name", STATEFUL)
def test_stateful_device_state_lives_in_the_tile_state(name):
    """A device with per-cell state: the state is seeded, saved by Tile.state_dict and
    restored by load_state_dict, so a resumed tile writes and reads exactly as the original."""
    cfg = hw.load("rram_generic", **{"device.model": name, "device.levels": 2,
                                     "noise.read": None, "noise.prog_sigma": 0.0})
    W1 = torch.randn(6, 9, generator=torch.Generator().manual_seed(0))
    W2 = torch.randn(6, 9, generator=torch.Generator().manual_seed(1))
    a, b = hw.Tile(W1, cfg, seed=3), hw.Tile(W1, cfg, seed=3)
    assert torch.equal(a.read_weight(), b.read_weight()), "same seed, same devices"
    saved = a.state_dict()
    assert saved["cells"]["device"] is not None
    a.program(W2)
    twin = hw.Tile(W2, cfg, seed=99)
    twin.load_state_dict(saved)
    assert torch.equal(twin.read_weight(), b.read_weight())
    twin.program(W2)
    assert torch.equal(twin.read_weight(), a.read_weight()), "same state, same next cycle"


@pytest.mark.parametrize("name", DRIFT.names())
def test_drift_model_is_frozen_and_starts_at_what_was_written(name):
    cfg = hw.load("rram_generic", **{f"drift.{name}": {}})
    model = DRIFT[name](cfg.drift[name], cfg)
    G0 = cfg.device.g_min + torch.rand(4, 5, dtype=torch.float64) * 90e-6
    d1 = model.draw(G0, torch.Generator().manual_seed(1))
    d2 = model.draw(G0, torch.Generator().manual_seed(1))
    assert d1.keys() == d2.keys() and all(torch.equal(d1[k], d2[k]) for k in d1)
    assert torch.equal(model.at(G0, d1, 0.0), G0), "age 0 reads what was written"
    late = model.at(G0, d1, 1e6)
    assert late.shape == G0.shape and torch.equal(late, model.at(G0, d1, 1e6)), "frozen"
    assert bool(((late >= cfg.device.g_min) & (late <= cfg.device.g_max)).all())


@pytest.mark.parametrize("name", PROGRAMMING.names())
def test_programming_scheme_writes_within_range(name):
    cfg = hw.load("rram_generic", **{"programming.scheme": name})
    target = cfg.device.g_min + torch.rand(2, 8, 6) * (cfg.device.g_max - cfg.device.g_min)
    scheme = PROGRAMMING[name](cfg.programming_params, cfg)
    G, stats = scheme.program(target, torch.Generator().manual_seed(0))
    assert G.shape == target.shape
    assert bool(((G >= cfg.device.g_min) & (G <= cfg.device.g_max)).all())
    assert stats.pulses >= 0 and stats.verify_reads >= 0 and stats.row_steps.shape == (2, 8)
    again, _ = scheme.program(target, torch.Generator().manual_seed(0))
    assert torch.equal(G, again)


# ------------------------------------------------------------------ commands
@pytest.mark.parametrize("name", COMMANDS.names())
def test_command_has_help_and_parses(name, capsys):
    mod = COMMANDS[name]
    assert mod.HELP and callable(mod.add_args) and callable(mod.run)
    with pytest.raises(SystemExit) as e:
        main([name, "--help"])
    assert e.value.code == 0
    assert name in capsys.readouterr().out
