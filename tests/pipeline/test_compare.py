"""`snnx compare --recipes ... --seeds N` and `snnx sweep` on tiny recipes: seeds run into
<out>/<recipe>/seed<k>, are reused (and resumed) on a second call, statistics match the
reports, the sweep's best value feeds `compare --best`."""

from __future__ import annotations

import csv
import json

import pytest

from snnx.pipeline.stats import mean_ci
from snnx.pipeline.sweep import at_edge, best_values
from pipeline_helpers import HAR_DFA, ROOT, TINY, cli, sets

HAR_BP = str(ROOT / "recipes" / "har_bp.yaml")
QUIET = ("monitor.tensorboard=false", "monitor.figures=false")


def _sets(*extra):
    """TINY without its adapt.lr (the swept key)."""
    out = []
    for item in [*TINY, *QUIET, *extra]:
        if not item.startswith("adapt.lr="):
            out += ["--set", item]
    return out


@pytest.fixture(scope="module")
def cmp_dir(tmp_path_factory):
    """Two recipes x two seeds, run once for the module."""
    out = tmp_path_factory.mktemp("cmp")
    from snnx.cli import main

    assert main(["compare", "--recipes", HAR_DFA, HAR_BP, "--seeds", "2", *sets(*QUIET),
                 "--out", str(out)]) == 0
    return out


def test_seeds_run_into_recipe_and_seed_folders(cmp_dir):
    for name in ("har_dfa", "har_bp"):
        for seed in (0, 1):
            rep = json.loads((cmp_dir / name / f"seed{seed}" / "report.json").read_text())
            assert rep["seed"] == seed and rep["recipe"] == name
    for f in ("compare.csv", "compare.json", "compare.png"):
        assert (cmp_dir / f).stat().st_size > 100, f


def test_statistics_match_the_reports(cmp_dir):
    data = json.loads((cmp_dir / "compare.json").read_text())
    assert "Student t" in data["ci_method"]
    groups = {g["label"]: g for g in data["groups"]}
    assert set(groups) == {"har_dfa", "har_bp"}
    for name, g in groups.items():
        reps = [json.loads((cmp_dir / name / f"seed{s}" / "report.json").read_text())
                for s in (0, 1)]
        assert g["n"] == 2 and g["seeds"] == [0, 1]
        for key in ("adapted", "deployed", "prequential"):
            want = mean_ci(r["accuracy"][key] for r in reps)
            assert g["stats"][key]["mean"] == pytest.approx(want["mean"])
            assert g["stats"][key]["ci95"] == pytest.approx(want["ci95"])
        want = mean_ci(r["cost"]["energy_j"] for r in reps)
        assert g["stats"]["energy_j"]["ci95"] == pytest.approx(want["ci95"])
    rows = list(csv.DictReader(open(cmp_dir / "compare.csv", encoding="utf-8")))
    assert [r["label"] for r in rows] == ["har_dfa", "har_bp"]
    assert float(rows[0]["adapted_mean"]) == pytest.approx(groups["har_dfa"]["stats"]
                                                           ["adapted"]["mean"])


def test_second_call_reuses_and_resumes_runs(cmp_dir, capsys):
    done = cmp_dir / "har_dfa" / "seed0" / "report.json"
    before = done.stat().st_mtime_ns
    interrupted = cmp_dir / "har_bp" / "seed1" / "report.json"
    kept = json.loads(interrupted.read_text())
    interrupted.unlink()  # as if the run had stopped after its last checkpoint
    code, out, err = cli(capsys, "compare", "--recipes", HAR_DFA, HAR_BP, "--seeds", "2",
                         *sets(*QUIET), "--out", str(cmp_dir))
    assert code == 0, err
    assert out.count("(reused)") == 3
    assert done.stat().st_mtime_ns == before
    again = json.loads(interrupted.read_text())
    assert again["accuracy"] == kept["accuracy"] and again["cost"] == kept["cost"]
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("group"))
    assert lines[head].split()[:4] == ["group", "n", "software", "sw"]
    for name in ("har_dfa", "har_bp"):
        row = next(line for line in lines[head:] if line.startswith(name + " "))
        assert row.split()[1] == "2" and row.count("±") == 5


def test_a_run_of_another_config_is_refused(cmp_dir, capsys):
    code, _, err = cli(capsys, "compare", "--recipes", HAR_DFA, "--seeds", "1",
                       *sets(*QUIET, "adapt.batch_size=2"), "--out", str(cmp_dir))
    assert code == 2
    assert err.startswith("snnx: error: compare: ") and "adapt.batch_size: 4 there, 2 asked" in err


def test_collect_groups_runs_by_what_differs(cmp_dir, capsys, tmp_path):
    code, out, err = cli(capsys, "compare", str(cmp_dir / "har_dfa"), str(cmp_dir / "har_bp"),
                         "--out", str(tmp_path / "collected"))
    assert code == 0, err
    data = json.loads((tmp_path / "collected" / "compare.json").read_text())
    assert [(g["label"], g["n"]) for g in data["groups"]] == [("har_dfa", 2), ("har_bp", 2)]
    assert data["groups"][1]["config"]["adapt.rule"] == "bp"


def test_default_out_is_under_runs(capsys, in_tmp, cmp_dir):
    code, out, err = cli(capsys, "compare", str(cmp_dir / "har_dfa"))
    assert code == 0, err
    made = list((in_tmp / "runs" / "compare").iterdir())
    assert len(made) == 1 and (made[0] / "compare.png").is_file()
    assert not (in_tmp / "compare.png").exists()


def test_sweep_picks_the_best_mean_and_compare_applies_it(capsys, tmp_path):
    out = tmp_path / "sweep"
    code, text, err = cli(capsys, "sweep", "--recipes", HAR_DFA, "--key", "adapt.lr",
                          "--values", "1e-3", "0.3", "--seeds", "2", *_sets(), "--out", str(out))
    assert code == 0, err
    for v in ("1e-3", "0.3"):
        for s in (1000, 1001):
            assert (out / "har_dfa" / f"adapt.lr={v}" / f"seed{s}" / "report.json").is_file()
    data = json.loads((out / "sweep.json").read_text())
    means = {g["label"]: g["stats"]["adapted"]["mean"] for g in data["groups"]}
    best = max(("1e-3", "0.3"), key=lambda v: means[f"har_dfa, adapt.lr={v}"])  # first on a tie
    assert json.loads((out / "best.json").read_text())["best"] == {"har_dfa": best}
    assert f"best adapt.lr: har_dfa {best}" in text and (out / "sweep.png").is_file()
    code, _, err = cli(capsys, "compare", "--recipes", HAR_DFA, "--seeds", "1", *_sets(),
                       "--best", str(out), "--out", str(tmp_path / "cmp"))
    assert code == 0, err
    cfg = (tmp_path / "cmp" / "har_dfa" / "seed0" / "config.resolved.yaml").read_text()
    assert f"lr: {float(best)}" in cfg


def test_best_value_is_the_highest_mean_first_on_a_tie():
    def row(label, value, mean):
        return {"label": label, "value": value, "stats": {"adapted": {"mean": mean}}}

    rows = [row("dfa", "1e-3", 0.8), row("dfa", "3e-3", 0.9), row("dfa", "1e-2", 0.9),
            row("bp", "1e-3", 0.95), row("bp", "3e-3", None), row("bp", "1e-2", 0.7)]
    assert best_values(rows) == {"dfa": "3e-3", "bp": "1e-3"}


def test_a_best_value_at_the_edge_of_the_grid_is_flagged():
    values = ["3e-3", "1e-3", "1e-2"]                     # given in any order
    assert at_edge(values, {"dfa": "1e-3", "bp": "3e-3", "ls": "1e-2"}) == ["dfa", "ls"]
    assert at_edge(["1e-3", "1e-2"], {"dfa": "1e-3"}) == []            # two values: no inside
    assert at_edge(["uniform", "sign", "x"], {"dfa": "uniform"}) == []  # not numbers
