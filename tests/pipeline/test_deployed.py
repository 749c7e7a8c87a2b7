"""snnx.load_run: a finished run as one object that takes RAW sensor samples, exports its
weights, saves itself and starts new runs; nothing of the training data is needed."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import snnx
from snnx import checkpoint as ckpt
from snnx.pipeline import model as pm
from snnx.pipeline.data import prepare

from pipeline_helpers import HAR_DFA, ROOT, cli, report, sets

# an ideal chip: no read noise, so a window gives the same class batched or alone
IDEAL = ("hw.preset=ideal", "monitor.tensorboard=false", "monitor.figures=false",
         "monitor.checkpoint_every=3")


@pytest.fixture(scope="module")
def ideal_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("deployed") / "run"
    assert snnx.cli.main(["adapt", "--recipe", HAR_DFA, *sets(*IDEAL), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def noisy_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("deployed") / "noisy"
    assert snnx.cli.main(["adapt", "--recipe", HAR_DFA, *sets(
        "monitor.tensorboard=false", "monitor.figures=false", "monitor.checkpoint_every=3"),
        "--out", str(out)]) == 0
    return out


def _adapter_predictions(ad, X) -> np.ndarray:
    preds = []
    for w in X:
        ad.reset()
        *_, p = (ad.step(s) for s in w)  # one raw sample at a time
        preds.append(p)
    return np.array(preds)


def test_raw_samples_give_the_runs_own_inputs_and_accuracy(ideal_run):
    run = snnx.load_run(ideal_run)
    X, y = run.windows("target_test")
    std = prepare(run.recipe).target_test  # what the run measured on, standardised
    assert np.array_equal(y, std.y)
    assert not np.allclose(X, std.X)  # raw units really differ from the model's inputs
    assert torch.equal(run.inputs(X), pm.as_input(run.recipe, std.X))  # bit for bit
    preds = _adapter_predictions(run.adapter(), X)
    batch = pm.logits_of(run.chip, pm.as_input(run.recipe, std.X)).argmax(1).numpy()
    assert np.array_equal(preds, batch)
    assert np.mean(preds == y) == report(ideal_run)["accuracy"]["adapted"]


def test_load_run_needs_no_data(ideal_run, tmp_path, monkeypatch):
    import snnx.pipeline.data as data

    def no_data(*a, **k):
        raise AssertionError("load_run touched the data")

    monkeypatch.setattr(data, "prepare", no_data)
    run = snnx.load_run(ideal_run)
    pre = run.preprocessing
    assert pre.channels[0] == "body_acc_x" and len(pre.channels) == 9
    assert (pre.window, pre.hop, pre.sample_rate_hz) == (128, 64, 50.0)
    assert run.classes[0] == "walking" and run.steps > 0 and run.rule.name == "dfa"


def test_adapted_chip_state_is_restored(ideal_run):
    run = snnx.load_run(ideal_run)
    from snnx import checkpoint as ckpt
    last = sorted((ideal_run / "checkpoints").glob("step_*.h5"))[-1]
    saved = ckpt.load(last)["chip"]
    for lyr, sd in zip(run.chip.layers, saved["tiles"]):
        assert torch.equal(lyr.tile.conductances, sd["G"])
    assert run.chip.ledger.energy_j > 0


def test_other_sample_rate_resamples(ideal_run):
    run = snnx.load_run(ideal_run)
    X, _ = run.windows("target_test")
    base = _adapter_predictions(run.adapter(), X[:4])
    twice = np.repeat(X[:4], 2, axis=1)  # the same motion sampled at 100 Hz
    ad = run.adapter(sample_rate_hz=100.0)
    assert (ad.window, ad.hop) == (256, 128)
    assert np.array_equal(_adapter_predictions(ad, twice), base)
    # area: a held sample averages to itself, so the same predictions from the same chip
    area = run.adapter(sample_rate_hz=100.0, resample="area")
    assert np.array_equal(_adapter_predictions(area, twice), base)


def test_export_h5_starts_a_new_run_and_pt_loads_in_torch(ideal_run, tmp_path, capsys):
    run = snnx.load_run(ideal_run)
    h5 = run.export(tmp_path / "adapted.h5")
    pt = run.export(tmp_path / "adapted.pt")
    chip_w = [lyr.tile.read_weight() for lyr in run.chip.layers]
    assert ckpt.load(h5)["preprocessing"]["window"] == 128
    saved = torch.load(pt, weights_only=True)
    for i, w in enumerate(chip_w):
        assert torch.equal(saved["state_dict"][f"layers.{i}.weight"], w)
    assert saved["preprocessing"]["channels"][0] == "body_acc_x"
    sw = run.software()
    net = type(sw)(**saved["model"]["kwargs"])
    net.load_state_dict(saved["state_dict"])
    x = run.inputs(run.windows("target_test")[0][:4])
    assert torch.equal(net.eval()(x), sw(x))
    # a new run from the adapted chip: from the export, or from the run folder itself
    for source in (h5, ideal_run):
        code, _, err = cli(capsys, "adapt", "--recipe", HAR_DFA, *sets(
            *IDEAL, f"pretrain.checkpoint={source}", "adapt.passes=1"),
            "--out", str(tmp_path / f"again_{Path(source).stem}"))
        assert code == 0, err
        again = pm.PRETRAINED_KIND, snnx.checkpoint.load(
            tmp_path / f"again_{Path(source).stem}" / "checkpoints" / "pretrained.h5")
        for i, w in enumerate(chip_w):
            assert torch.equal(again[1]["model"][f"layers.{i}.weight"], w)


def test_save_and_load_one_file(noisy_run, tmp_path):
    run = snnx.load_run(noisy_run)
    path = run.save(tmp_path / "deployed.h5")
    back = snnx.load_run(path)
    a, b = pm.chip_state(run.chip, run.rule), pm.chip_state(back.chip, back.rule)
    for ta, tb in zip(a["tiles"], b["tiles"]):
        assert torch.equal(ta["G"], tb["G"]) and torch.equal(ta["gen"], tb["gen"])
    X, y = run.windows("target_test")
    assert run.accuracy(X, y) == back.accuracy(X, y)  # noise included: same random state
    assert back.report == run.report and back.steps == run.steps


def test_corrupt_newest_checkpoint_falls_back(noisy_run, tmp_path, caplog):
    copy = tmp_path / "run"
    shutil.copytree(noisy_run, copy)
    files = sorted((copy / "checkpoints").glob("step_*.h5"))
    assert len(files) == 2
    files[-1].write_bytes(files[-1].read_bytes()[:1000])  # cut short
    with caplog.at_level("WARNING"):
        run = snnx.load_run(copy)
    assert run.steps == int(files[0].stem.split("_")[1])
    assert any("continuing from the previous one, " + files[0].name in r.getMessage()
               for r in caplog.records)


def readme_script() -> str:
    text = (ROOT / "README.md").read_text()
    return re.search(r"<!-- load_run script -->\n```python\n(.*?)```", text, re.S).group(1)


def test_readme_load_run_script(noisy_run, ideal_run, capsys):
    code = readme_script()
    assert len([line for line in code.splitlines() if line.strip()]) <= 12
    for run_dir in (ideal_run, noisy_run):
        exec(compile(code.replace("runs/tour/dfa", str(run_dir)), "README", "exec"), {})
        out = capsys.readouterr().out
        raw, own = (float(v) for v in re.findall(r"([\d.]+) %", out)[:2])
        if run_dir == ideal_run:
            assert raw == own == round(100 * report(run_dir)["accuracy"]["adapted"], 1)
        assert "learned from 16 labels" in out


def test_stretched_windows_travel_with_the_model(tmp_path):
    """T = 3 steps do not divide 128 samples: the run stretched its windows to 129; raw
    128-sample windows from a sensor get the same stretch inside the adapter."""
    out = tmp_path / "t3"
    assert snnx.cli.main(["adapt", "--recipe", HAR_DFA, *sets(*IDEAL, "model.snn.timesteps=3"),
                          "--out", str(out)]) == 0
    run = snnx.load_run(out)
    assert (run.preprocessing.window, run.preprocessing.model_window) == (128, 129)
    X, y = run.windows("target_test")
    assert X.shape[1] == 128
    std = prepare(run.recipe).target_test
    assert torch.equal(run.inputs(X), pm.as_input(run.recipe, std.X))
    preds = _adapter_predictions(run.adapter(), X)
    assert np.mean(preds == y) == report(out)["accuracy"]["adapted"]
