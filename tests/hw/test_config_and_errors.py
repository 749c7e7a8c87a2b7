"""Hardware configs, presets, and clear errors for bad input."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import snnx.hw as hw
from snnx.errors import ConfigError, ShapeError
from snnx.hw.presets import presets_dir

PRESETS = hw.list_presets()


def test_all_presets_load_and_ideal_is_ideal():
    assert {"ideal", "rram_generic", "neurram", "synaptogen", "binary_cim"} <= set(PRESETS)
    for name in PRESETS:
        c = hw.load(name)
        assert c.name == name
        assert c.source, f"{name}: a preset must name its sources"
        assert c.is_ideal == (name == "ideal")


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_number_cites_a_source(name):
    """Rule of the house 8: every numeric setting carries a comment saying where it is from."""
    if name == "ideal":
        return
    text = (presets_dir() / f"{name}.yaml").read_text()
    for line in text.splitlines():
        body = line.split("#")[0]
        m = re.match(r"\s*[a-z_0-9]+:\s*([-+0-9.eE]+|null)\s*$", body)
        if m and m.group(1) not in ("null",):
            assert "#" in line, f"{name}: uncited number: {line.strip()}"


@pytest.mark.parametrize("name", PRESETS)
def test_preset_tiles_run(name):
    c = hw.load(name)
    t = hw.Tile(torch.randn(6, 20) * 0.1, c, seed=0)
    y = t.mvm(torch.rand(3, 20))
    g = t.mvm_t(torch.randn(3, 6))
    t.outer_update(torch.rand(3, 20), torch.randn(3, 6), 0.01)
    assert y.shape == (3, 6) and g.shape == (3, 20)
    assert torch.isfinite(y).all() and torch.isfinite(g).all()
    assert t.ledger.energy_j > 0 and t.ledger.area_m2 > 0


def test_paper_numbers_in_presets():
    assert hw.load("neurram").device.g_max == pytest.approx(40e-6)
    s = hw.load("synaptogen").device
    assert 1 / s.g_max == pytest.approx(4.5e3, rel=0.01) and 1 / s.g_min == pytest.approx(76e3, rel=0.01)
    b = hw.load("binary_cim")
    v = b.periphery.v_read
    assert b.device.g_min * v == pytest.approx(5e-6) and b.device.g_max * v == pytest.approx(30e-6)
    r = hw.load("rram_generic")
    assert (r.device.g_min, r.device.g_max, r.device.levels) == (2e-6, 100e-6, 16)


def test_overrides_and_immutability():
    c = hw.load("rram_generic", **{"periphery.adc_bits": 6}, noise={"read": {"constant": {"sigma": 0.02}}})
    assert c.periphery.adc_bits == 6 and c.noise.read["constant"].sigma == 0.02
    with pytest.raises(Exception):
        c.periphery.adc_bits = 3  # frozen
    assert hw.load(c, **{"array.rows": 32}).array.rows == 32
    assert hw.load(c.to_dict()) == c


@pytest.mark.parametrize("over, key", [
    ({"device.g_min": 1e-4}, "device.g_min"),            # g_min >= g_max
    ({"device.g_min": -1e-6}, "device.g_min"),           # negative conductance
    ({"device.g_max": 0.0}, "device.g_max"),
    ({"periphery.adc_bits": 0}, "periphery.adc_bits"),   # 0 ADC bits
    ({"periphery.dac_bits": 0}, "periphery.dac_bits"),
    ({"array.rows": 0}, "array.rows"),
    ({"device.levels": 1}, "device.levels"),
    ({"noise.read.constant.sigma": -0.1}, "noise.read.constant.sigma"),
    ({"periphery.adc_bitz": 4}, "periphery.adc_bitz"),  # typo
    ({"periphery.input_scaling": "max"}, "periphery.input_scaling"),
    ({"device.levels": "many"}, "device.levels"),
    ({"parasitics.model": "exact"}, "parasitics.r_row"),  # r = 0 with a wire model
    ({"noise.prog_sigma": float("nan")}, "noise.prog_sigma"),
])
def test_bad_config_names_the_field(over, key):
    with pytest.raises(ConfigError) as e:
        hw.load("rram_generic", **over)
    msg = str(e.value)
    assert msg.startswith(key + ":"), msg
    assert "\n" not in msg


def test_typo_suggests_the_right_key():
    with pytest.raises(ValueError, match="did you mean 'adc_bits'"):
        hw.load("rram_generic", **{"periphery.adc_bitz": 4})


def test_unknown_preset():
    with pytest.raises(ConfigError, match=r"hw: unknown preset .*rram_generc.*did you mean 'rram_generic'"):
        hw.load("rram_generc")


def test_bad_yaml_file(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("device: {g_min: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        hw.load(p)


@pytest.mark.parametrize("W, msg", [
    (torch.randn(3), "W: expected a 2-D"),
    (torch.tensor([[1.0, float("nan")]]), "W: contains NaN"),
    (torch.tensor([[1.0, float("inf")]]), "W: contains NaN"),
])
def test_bad_weights(W, msg):
    with pytest.raises(ShapeError, match=msg):
        hw.Tile(W, "ideal")


def test_bad_inputs_leave_tile_unchanged():
    t = hw.Tile(torch.randn(4, 6), "rram_generic")
    G = t.conductances.clone()
    counts = dict(t.ledger.counts)
    cases = [
        (lambda: t.mvm(torch.randn(2, 5)), "x: expected 6 features"),
        (lambda: t.mvm(torch.randn(2, 3, 6)), "x: expected shape"),
        (lambda: t.mvm(torch.tensor([[float("nan")] * 6])), "x: contains NaN"),
        (lambda: t.mvm_t(torch.randn(2, 6)), "d: expected 4 features"),
        (lambda: t.outer_update(torch.randn(2, 6), torch.randn(3, 4), 0.1), "batch sizes differ"),
        (lambda: t.outer_update(torch.randn(2, 6), torch.randn(2, 4), -0.1), "lr: expected"),
        (lambda: t.outer_update(torch.randn(2, 6), torch.randn(2, 4), float("inf")), "lr: expected"),
        (lambda: t.outer_update(torch.randn(2, 6), torch.full((2, 4), float("inf")), 0.1),
         "d: contains NaN"),
        (lambda: t.program(torch.randn(5, 6)), "W: expected shape"),
        (lambda: t.set_mapping(row_perm=[0, 0, 1, 2, 3, 4]), "row_perm: expected a permutation"),
    ]
    for fn, msg in cases:
        with pytest.raises(ValueError, match=msg):
            fn()
    assert torch.equal(t.conductances, G)
    assert dict(t.ledger.counts) == counts


def test_state_dict_round_trip_reproduces_noise():
    c = hw.load("rram_generic")
    t = hw.Tile(torch.randn(8, 30) * 0.2, c, seed=3)
    x, d = torch.rand(4, 30), torch.randn(4, 8)
    t.mvm(x)
    state = t.state_dict()
    y1, g1 = t.mvm(x), t.mvm_t(d)
    t.outer_update(x, d, 0.1)
    w1 = t.read_weight()
    t2 = hw.Tile(torch.zeros(8, 30), c, seed=99)
    t2.load_state_dict(state)
    assert torch.equal(t2.mvm(x), y1) and torch.equal(t2.mvm_t(d), g1)
    t2.outer_update(x, d, 0.1)
    assert torch.equal(t2.read_weight(), w1)
    with pytest.raises(ShapeError, match="does not match"):
        hw.Tile(torch.zeros(3, 3), c).load_state_dict(state)


def test_config_imports_without_torch():
    code = "import sys, snnx.hw.presets as c; [c.load(n) for n in c.list_presets()]; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])
