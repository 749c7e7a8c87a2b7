"""A rule, a transform, a device model and a command of one's own: each is one file (here
``toy_plugins.py``) plus ONE registry line, and runs from a recipe / the CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipeline"))

import toy_plugins  # noqa: E402
from pipeline_helpers import HAR_DFA, sets  # noqa: E402

from snnx.cli import COMMANDS, main  # noqa: E402
from snnx.hw.devices import DEVICES  # noqa: E402
from snnx.learn import RULES  # noqa: E402
from snnx.transforms import TRANSFORMS  # noqa: E402


@pytest.fixture
def registered():
    """The one registry line of each plugin (undone afterwards)."""
    RULES.register("sign_sgd", "toy_plugins:SignSGD", "sign of BP's deltas")
    TRANSFORMS.register("scale_bias", "toy_plugins:scale_bias", "scale the digital biases")
    DEVICES.register("linear", "toy_plugins:LinearDevice", "linear noiseless cell")
    COMMANDS.register("rules", toy_plugins, toy_plugins.HELP)
    yield
    for reg, name in ((RULES, "sign_sgd"), (TRANSFORMS, "scale_bias"), (DEVICES, "linear"),
                      (COMMANDS, "rules")):
        reg.unregister(name)


def test_toy_plugins_run_through_snnx_adapt(registered, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["-q", "adapt", "--recipe", HAR_DFA, "--out", str(out), *sets(
        "adapt.rule=sign_sgd", "adapt.sign_sgd.keep=0.5",
        "transforms=[{name: scale_bias, factor: 0.5}]",
        "hw.overrides.device.model=linear", "hw.overrides.device.linear.reset_ratio=0.8")])
    assert code == 0, capsys.readouterr().err
    rep = json.loads((out / "report.json").read_text())
    assert rep["rule"] == "sign_sgd" and rep["stream"]["steps"] > 0
    assert rep["cost"]["pulses"] > 0
    resolved = (out / "config.resolved.yaml").read_text()
    assert "sign_sgd:" in resolved and "keep: 0.5" in resolved
    assert "scale_bias" in resolved and "reset_ratio: 0.8" in resolved


def test_toy_plugin_errors_are_one_line(registered, capsys):
    code = main(["adapt", "--recipe", HAR_DFA, "--set", "adapt.rule=sign_sgd",
                 "--set", "adapt.sign_sgd.kep=0.5"])
    err = capsys.readouterr().err
    assert code == 2
    assert err == ("snnx: error: adapt.sign_sgd.kep: unknown key; did you mean 'keep'?\n")


def test_toy_command(registered, capsys):
    assert main(["rules", "--shout"]) == 0
    assert "SIGN_SGD" in capsys.readouterr().out


def test_unregistered_rule_is_refused(capsys):
    assert main(["adapt", "--recipe", HAR_DFA, "--set", "adapt.rule=sign_sgd"]) == 2
    assert "adapt.rule: 'sign_sgd' is not one of bp, dfa, logsgd" in capsys.readouterr().err
