"""Device-realism options through `snnx adapt`: VIPI programming and chip-in-the-loop
fine-tuning (programming.*, finetune.*), QAT / noise-aware pretraining (hardware_aware.*),
accuracy vs time since programming (drift.*), and their one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from snnx import checkpoint as ckpt

from pipeline_helpers import COMPARED, HAR_DFA, ROOT, cli, report, sets

DIGITS_VIPI = str(ROOT / "recipes" / "digits_vipi.yaml")
DIGITS = ["model.hidden=[8]", "pretrain.epochs=2", "eval.mc_draws=1", "eval.every=0",
          "monitor.tensorboard=false", "monitor.figures=false", "monitor.checkpoint_every=0",
          "monitor.histograms_every=0", "adapt.batch_size=64", "data.test_fraction=0.9"]
QUIET = ["monitor.tensorboard=false", "monitor.figures=false"]


def _sets(items):
    out = []
    for item in items:
        out += ["--set", item]
    return out


def _digits(tmp_path, capsys, *extra, name="run"):
    out = tmp_path / name
    code, _, err = cli(capsys, "adapt", "--recipe", DIGITS_VIPI, *_sets([*DIGITS, *extra]),
                       "--out", str(out))
    assert code == 0, err
    return out, report(out)


def test_vipi_programming_and_outer_finetuning_are_reported_from_the_ledger(tmp_path, capsys):
    out, rep = _digits(tmp_path, capsys, "finetune.epochs=1", "finetune.batch_size=64")
    p, f, acc = rep["programming"], rep["finetune"], rep["accuracy"]
    assert p["scheme"] == "vipi" and p["cells"] == 2 * (64 * 8 + 8 * 10)
    assert p["converged_fraction_healthy"] >= 0.99
    assert p["pulse_equivalents"] > p["pulses"] > p["cells"]  # a RESET per cell, then VIPI
    e = p["pulse_equivalents"] * 2e-12 + p["energy_by_op"]["verify_read"]
    assert p["energy_j"] == pytest.approx(e)
    assert {"software", "deployed", "finetuned", "adapted"} <= acc.keys()
    n_train = int(round(1797 * 0.1)) - int(round(1797 * 0.1 * 0.9))  # source windows to train
    assert f["method"] == "outer" and f["epochs"] == 1 and f["steps"] >= 1
    assert f["pulses"] > 0 and f["energy_by_op"]["adc_t"] > 0  # BP: transposed reads
    assert f["energy_j"] == pytest.approx(sum(f["energy_by_op"].values()))
    assert n_train > 0
    assert rep["cost"]["pulses"] != f["pulses"] or rep["cost"]["energy_j"] != f["energy_j"]


@pytest.mark.parametrize("method", ["bias", "reprogram"])
def test_digital_finetuning_methods(tmp_path, capsys, method):
    out, rep = _digits(tmp_path, capsys, "finetune.epochs=2", f"finetune.method={method}",
                       "finetune.lr=0.05", "finetune.threshold=0.05",
                       "hw.overrides.programming.scheme=one_shot")
    f = rep["finetune"]
    if method == "bias":
        assert f["pulses"] == 0 and f["verify_reads"] == 0  # nothing written to the cells
    else:
        assert f["verify_reads"] == 2 * rep["programming"]["cells"]  # one read per epoch
        assert f["cells_written"] == sum(f["history"]["cells_rewritten"])
    assert len(f["history"]["loss"]) == 2


def test_qat_pretraining_reports_plain_and_aware_on_the_same_hardware(tmp_path, capsys):
    out = tmp_path / "qat"
    code, _, err = cli(capsys, "adapt", "--recipe", HAR_DFA,
                       *sets("hw.preset=synaptogen", "pretrain.qat_bits=3",
                             "pretrain.aware_epochs=1", *QUIET), "--out", str(out))
    assert code == 0, err
    rep = report(out)
    h = rep["hardware_aware"]
    assert h["qat_bits"] == 3 and h["reference"]["qat"]["relative_error_increase"] == 0.25
    assert h["aware"]["deployed"] == rep["accuracy"]["deployed"]
    assert h["plain"]["deployed"] == rep["accuracy"]["deployed_plain"]
    assert h["deployed_gain"] == pytest.approx(h["aware"]["deployed"] - h["plain"]["deployed"])
    sw = 1 - rep["accuracy"]["software_plain"]
    if sw > 0:
        want = (1 - rep["accuracy"]["deployed_source"] - sw) / sw
        assert h["relative_error_increase"]["aware"] == pytest.approx(want)
    state = ckpt.load(out / "checkpoints" / "pretrained.h5")
    for key, w in state["model"].items():  # the saved model holds 3-bit weights: -3..3 x s
        if key.endswith("weight") and key.startswith("layers"):
            w = w.numpy()
            s = np.abs(w).max() / 3
            assert np.allclose(w / s, np.round(w / s), atol=1e-4) and len(np.unique(w)) <= 7


def test_noise_aware_pretraining_reports_both_models(tmp_path, capsys):
    out, rep = _digits(tmp_path, capsys, "hw.preset=resna", "pretrain.noise_aware=true",
                       "pretrain.aware_epochs=1", "hw.overrides.programming.scheme=one_shot")
    h = rep["hardware_aware"]
    assert h["noise_aware"] and "noise_aware" in h["reference"]
    assert set(h["plain"]) == set(h["aware"])
    assert all(v is not None for v in h["plain"].values())


@pytest.mark.parametrize("mode", ["independent", "timeline"])
def test_eval_times_reproduce_the_run_at_t0_and_write_drift_png(tmp_path, capsys, mode):
    out = tmp_path / "drift"
    code, _, err = cli(capsys, "adapt", "--recipe", HAR_DFA,
                       *sets("hw.overrides.drift.power_law.nu_mean=0.5",
                             "eval.times=[1, 86400]", "monitor.tensorboard=false",
                             f"eval.times_mode={mode}"), "--out", str(out))
    assert code == 0, err
    rep = report(out)
    d = rep["drift"]
    assert d["mode"] == mode
    assert d["times_s"] == [1.0, 86400.0] and d["labels"] == ["1 s", "1 day"]
    # t = 1 s = t0: the cells read as written, the sweep repeats the run itself
    assert d["deployed"][0] == rep["accuracy"]["deployed"]
    assert d["adapted"][0] == rep["accuracy"]["adapted"]
    assert d["steps"] == [rep["stream"]["steps"]] * 2
    assert d["deployed"][1] != d["deployed"][0]  # G x 86400^-0.5: another chip
    assert (out / "drift.png").stat().st_size > 1000


def test_finetuned_run_resumes_to_the_same_report(tmp_path, capsys):
    out, first = _digits(tmp_path, capsys, "finetune.epochs=1", "finetune.batch_size=64",
                         "monitor.checkpoint_every=1", "adapt.batch_size=32")
    steps = sorted((out / "checkpoints").glob("step_*.h5"))
    assert len(steps) >= 2
    for p in steps[1:]:  # as if killed after the first step checkpoint
        p.unlink()
    (out / "report.json").unlink()
    code, _, err = cli(capsys, "adapt", "--resume", str(out))
    assert code == 0, err
    again = report(out)
    for block in (*COMPARED, "programming", "finetune"):
        assert again[block] == first[block], block


@pytest.mark.parametrize("extra,msg", [
    (["eval.times=[1, 3600]"], "eval.times: the hardware model has no drift model"),
    (["eval.times=[-5]", "hw.overrides.drift.power_law={}"], "eval.times[0]: -5.0 is out"),
    (["eval.times=[60, 1]", "eval.times_mode=timeline", "hw.overrides.drift.power_law={}"],
     "eval.times[1]: 1.0 is before the time before it"),
    (["finetune.method=rewrite"], "finetune.method: 'rewrite' is not one of"),
    (["finetune.rule=bpp"], "finetune.rule: 'bpp' is not one of"),
    (["finetune.rule=logsgd", "finetune.epochs=1"], "finetune.rule: logsgd keeps its weights"),
    (["pretrain.qat_bits=1"], "pretrain.qat_bits: 1 is out of range"),
    (["pretrain.noise_aware=true", "hw.preset=synaptogen"],
     "pretrain.noise_aware: bit-sliced weights"),
    (["hw.overrides.programming.scheme=vipi", "hw.overrides.programming.vipi.tolerance=0"],
     "hw.overrides.programming.vipi.tolerance: 0.0 is out of range"),
    (["hw.overrides.programming.scheme=vipi", "hw.overrides.programming.vipi.n_iter=0"],
     "hw.overrides.programming.vipi.n_iter: 0 is out of range"),
    (["hw.overrides.device.model=synaptogen",
      "hw.overrides.device.synaptogen.gmm_weights=[0.5, -0.5, 1.0]"],
     "hw.overrides.device.synaptogen.gmm_weights: values must be finite and > 0"),
    (["hw.overrides.device.model=synaptogen", "hw.overrides.device.synaptogen.var_a="
      "[[[1.2, 0, 0, 0], [0, 0.4, 0, 0], [0, 0, 0.3, 0], [0, 0, 0, 0.3]]]"],
     "hw.overrides.device.synaptogen.var_a: VAR is not stable"),
    (["hw.overrides.drift.power_law={nu_min: 0.3, nu_max: 0.2}"],
     "hw.overrides.drift.power_law.nu_min: must be <= nu_max"),
    (["hw.overrides.noise.read={rtn: {b_rtn: 0.9}}"],
     "hw.overrides.noise.read.rtn.b_rtn: 0.9 is out of range"),
])
def test_bad_realism_settings_are_one_line_errors(tmp_path, capsys, extra, msg):
    out = tmp_path / "bad"
    code, _, err = cli(capsys, "adapt", "--recipe", HAR_DFA, *sets(*extra), "--out", str(out))
    assert code == 2
    line = err.strip()
    assert "\n" not in line and line.startswith(f"snnx: error: {msg}"), line
    assert not out.exists()


def test_shipped_realism_recipes_validate():
    from snnx.pipeline.recipe_files import load_recipe

    for name in ("digits_vipi", "har_qat3", "digits_resna", "har_drift"):
        r = load_recipe(name)
        assert r.name == name
    assert load_recipe("har_drift").eval.times == (1.0, 3600.0, 86400.0, 2592000.0)
    assert json.loads(json.dumps(load_recipe("digits_vipi").to_dict()))["finetune"]["epochs"] > 0
    assert Path(DIGITS_VIPI).is_file()
