"""`snnx adapt` end to end on tiny recipes: run folder, report, rules, compare, TensorBoard,
seeding, `snnx train` and `snnx eval`."""

from __future__ import annotations

from pathlib import Path

import pytest

from snnx.cli import main
from snnx.monitor import read_tensorboard_scalars
from pipeline_helpers import COMPARED, HAR_DFA, cli, metric_lines, report, sets

RULES = ("dfa", "bp", "logsgd")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """One finished tiny run per rule (the same recipe, only adapt.rule differs)."""
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for rule in RULES:
        out[rule] = root / rule
        assert main(["adapt", "--recipe", HAR_DFA, *sets(f"adapt.rule={rule}"),
                     "--out", str(out[rule])]) == 0
    return out


def test_run_folder_holds_every_output(runs):
    run = runs["dfa"]
    for name in ("config.resolved.yaml", "metrics.jsonl", "report.json", "accuracy_stream.png",
                 "energy_split.png", "checkpoints/pretrained.h5"):
        assert (run / name).is_file(), name
    assert list((run / "tb").glob("events.out.tfevents.*"))
    steps = sorted((run / "checkpoints").glob("step_*.h5"))
    assert 1 <= len(steps) <= 2  # the newest two are kept
    assert not (run / "run.lock").exists()
    assert not list(run.rglob("*.tmp"))


@pytest.mark.parametrize("rule", RULES)
def test_report_has_accuracies_and_costs(runs, rule):
    rep = report(runs[rule])
    assert rep["rule"] == rule and rep["recipe"] == "har_dfa"
    for key in ("software", "software_target", "deployed", "adapted", "prequential"):
        assert 0.0 <= rep["accuracy"][key] <= 1.0, key
    cost = rep["cost"]
    assert cost["steps"] == rep["stream"]["steps"] > 0
    assert cost["energy_j"] > 0 and cost["latency_s"] > 0 and cost["area_m2"] > 0
    assert cost["energy_j"] == pytest.approx(sum(cost["energy_by_op"].values()))
    reads = "cap_multiply" if rule == "logsgd" else "cell_read"  # logsgd reads capacitors
    assert {"adc", "dac", reads} <= set(cost["energy_by_op"])
    assert cost["area_m2"] == pytest.approx(sum(cost["area_by_component"].values()))
    assert rep["inference"]["energy_j"] > 0
    assert rep["curves"]["eval_acc"][0] == rep["accuracy"]["deployed"]
    assert rep["curves"]["eval_acc"][-1] == rep["accuracy"]["adapted"]


def test_rules_use_their_own_hardware(runs):
    area = {rule: report(runs[rule])["cost"]["area_by_component"] for rule in RULES}
    # transposed reads: booked for bp only; shared converters (the default) add no area
    assert "adc_t" not in area["bp"] and "adc_t" not in area["dfa"]
    assert "caps" in area["logsgd"]                               # integrator capacitors
    energy = {rule: report(runs[rule])["cost"]["energy_by_op"] for rule in RULES}
    assert "adc_t" in energy["bp"] and "adc_t" not in energy["dfa"]


def test_compare_groups_runs_by_rule_and_writes_figure(runs, capsys, tmp_path):
    code, out, err = cli(capsys, "compare", *(str(runs[r]) for r in RULES),
                         "--out", str(tmp_path))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[1].split()[:4] == ["group", "n", "software", "sw"]
    for rule in RULES:  # one seed each: a label per rule, n = 1, no interval
        acc, cost = [line for line in lines if line.startswith(rule + " ")]
        assert acc.split()[1] == "1" and "± -" in acc
        assert "J ± -" in cost and "s ± -" in cost and "mm\u00b2" in cost
    assert (tmp_path / "compare.png").stat().st_size > 1000
    assert (tmp_path / "compare.csv").is_file() and (tmp_path / "compare.json").is_file()


def test_tensorboard_holds_scalars_histograms_image(runs):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tb = runs["dfa"] / "tb"
    scalars = read_tensorboard_scalars(tb)
    for tag in ("adapt/accuracy", "adapt/loss", "hw/energy_j", "hw/latency_s", "hw/pulses",
                "eval/accuracy", "pretrain/loss", "hparams/accuracy_adapted"):
        assert scalars.get(tag), tag
    energy = [v for _, v in scalars["hw/energy_j"]]
    assert energy == sorted(energy) and energy[-1] > 0  # cumulative
    acc = EventAccumulator(str(tb), size_guidance={"histograms": 0, "images": 0})
    acc.Reload()
    assert "conductance/layer0" in acc.Tags()["histograms"]
    assert "crossbar/layer0_dG" in acc.Tags()["images"]


def test_same_seed_twice_gives_identical_metrics(runs, tmp_path):
    again = tmp_path / "again"
    assert main(["adapt", "--recipe", HAR_DFA, *sets("adapt.rule=dfa"), "--out",
                 str(again)]) == 0
    first, second = report(runs["dfa"]), report(again)
    for block in COMPARED:
        assert first[block] == second[block], block
    assert metric_lines(runs["dfa"]) == metric_lines(again)


def test_eval_measures_what_the_run_reported(runs, capsys):
    rep = report(runs["dfa"])
    code, out, err = cli(capsys, "eval", "--run", str(runs["dfa"]))
    assert code == 0, err
    from snnx.pipeline import reevaluate

    again = reevaluate(runs["dfa"])
    for key in ("software", "software_target", "deployed", "adapted"):
        assert again[key] == rep["accuracy"][key], key
    assert "adapted" in out and "deployed" in out


def test_print_config_runs_nothing(capsys, in_tmp):
    code, out, _ = cli(capsys, "adapt", "--recipe", "har_dfa", "--set", "adapt.rule=bp",
                       "--print-config")
    assert code == 0
    assert "rule: bp" in out and "checkpoint_every:" in out
    assert not (in_tmp / "runs").exists()


def test_default_folder_and_train_then_adapt(capsys, in_tmp):
    code, out, err = cli(capsys, "train", "--recipe", HAR_DFA, *sets("monitor.tensorboard=false"))
    assert code == 0, err
    trained = next((in_tmp / "runs" / "har_dfa").iterdir())
    pretrained = trained / "checkpoints" / "pretrained.h5"
    assert pretrained.is_file()
    assert f"pretrained model: {pretrained.relative_to(in_tmp)}" in out
    code, out, err = cli(capsys, "adapt", "--recipe", HAR_DFA,
                         *sets("monitor.tensorboard=false", "pretrain.epochs=0",
                               f"pretrain.checkpoint={pretrained}"))
    assert code == 0, err
    runs = sorted((in_tmp / "runs" / "har_dfa").iterdir())
    assert len(runs) == 2
    assert report(runs[1])["accuracy"]["software"] == report(trained)["accuracy"]["software"]
    assert "energy" in out and "latency" in out and "mm\u00b2" in out
