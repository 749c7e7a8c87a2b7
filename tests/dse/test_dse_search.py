"""A tiny search end to end: trials are snnx adapt runs, promotion, outputs, resume."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from snnx.dse.pareto import non_dominated
from snnx.dse.problem import REPORT_FIELDS, load_problem
from snnx.pipeline.recipe_files import load_recipe

from dse_helpers import DSE_HAR, TINY, check_complete_trials, cli, sets, states, trials

FIELDS = ["accuracy.adapted", "cost.energy_j", "cost.latency_s", "cost.area_m2"]
DIRS = np.array([-1.0, 1.0, 1.0, 1.0])  # to minimisation


@pytest.fixture(scope="module")
def mf_study(tmp_path_factory):
    """A multi-fidelity search of 4 cheap trials (run once for the tests below)."""
    from snnx.cli import main

    out = tmp_path_factory.mktemp("mf") / "study"
    assert main(["-q", "dse", "--recipe", DSE_HAR, "--out", str(out),
                 *sets("dse.trials=4", "dse.fidelity.max_promoted=1.0")]) == 0
    return out, f"sqlite:///{out / 'study.db'}"


def test_multi_fidelity_trials_and_promotions(mf_study):
    out, url = mf_study
    assert states(url, "dse_har.cheap") == {"COMPLETE": 4}
    cheap = {t.number: t for t in trials(url, "dse_har.cheap")}
    full = check_complete_trials(url, "dse_har", FIELDS)
    check_complete_trials(url, "dse_har.cheap", FIELDS)
    promoted = {n for n, t in cheap.items() if t.user_attrs.get("promoted")}
    assert promoted and {t.user_attrs["cheap_trial"] for t in full} == promoted
    for t in full:  # a full trial evaluates its cheap trial's configuration at full fidelity
        src = cheap[t.user_attrs["cheap_trial"]]
        assert t.params == src.params and t.user_attrs["cheap_values"] == list(src.values)
        recipe = json.loads((out / "trials" / f"full-{t.number:04d}" / "report.json")
                            .read_text())
        assert recipe["accuracy"]["adapted"] == t.values[0]
    cfg = load_recipe(out / "trials" / f"cheap-{min(cheap):04d}" / "config.resolved.yaml")
    assert cfg.pretrain.epochs == 1 and cfg.eval.mc_draws == 1
    cfg = load_recipe(out / "trials" / f"full-{full[0].number:04d}" / "config.resolved.yaml")
    assert cfg.pretrain.epochs == 2 and cfg.eval.mc_draws == 3
    # the first cheap trial is always promoted (nothing dominates it yet), and a promoted
    # trial is never dominated by a cheap trial that finished before it
    assert min(cheap) in promoted
    for n in promoted:
        before = [t for m, t in cheap.items() if m < n]
        p = DIRS * np.array(cheap[n].values)
        assert not any(((DIRS * np.array(t.values) <= p).all() and
                        (DIRS * np.array(t.values) < p).any()) for t in before)


def test_outputs_pareto_hypervolume_recipes(mf_study):
    out, url = mf_study
    full = [t for t in trials(url, "dse_har") if t.state.name == "COMPLETE"]
    rows = list(csv.DictReader(open(out / "pareto.csv")))
    expect = {t.number for t, keep in zip(full, non_dominated(
        DIRS * np.array([t.values for t in full]))) if keep}
    assert {int(r["trial"]) for r in rows} == expect
    summary = json.loads((out / "pareto.json").read_text())
    assert summary["objectives"] == dict(zip(FIELDS, ["maximize"] + ["minimize"] * 3))
    hv = [line.split(",") for line in (out / "hypervolume.csv").read_text().splitlines()[1:]]
    assert len(hv) == sum(summary["trials"][k]["COMPLETE"] for k in ("full", "cheap"))
    assert float(hv[-1][1]) == pytest.approx(summary["hypervolume"], abs=1e-6)
    assert [float(h[1]) for h in hv] == sorted(float(h[1]) for h in hv)
    all_t = trials(url, "dse_har") + trials(url, "dse_har.cheap")
    spent = sum(t.user_attrs["compute_s"] for t in all_t if t.state.name == "COMPLETE")
    assert float(hv[-1][0]) == pytest.approx(spent, abs=1e-2)
    for name in ("pareto.png", "hypervolume.png"):
        assert (out / name).stat().st_size > 1000
    prob = load_problem(load_recipe(DSE_HAR, TINY))
    by_number = {t.number: t for t in full}
    for row in rows:  # each best recipe is the trial's recipe, ready to run
        best = load_recipe(row["recipe"])
        want = prob.trial_recipe(by_number[int(row["trial"])].params, "full")
        assert best.replace(name=want.name, description="").to_dict() == \
            want.replace(description="").to_dict()


def test_report_fields_table_matches_a_real_report(mf_study):
    out, _ = mf_study
    rep = json.loads(next((out / "trials").glob("full-*/report.json")).read_text())
    for block, leaves in REPORT_FIELDS.items():
        for leaf in leaves:
            node = rep[block]
            if leaf.endswith(".*"):
                assert isinstance(node[leaf[:-2]], dict)
                continue
            assert isinstance(node[leaf], (int, float)), f"{block}.{leaf}"


def test_rerun_continues_and_extends_the_study(capsys, tmp_path):
    out = tmp_path / "s"
    url = f"sqlite:///{out / 'study.db'}"
    args = ["-q", "dse", "--recipe", DSE_HAR, "--out", str(out)]
    one = sets("dse.fidelity=null", "dse.sampler=random")
    assert cli(capsys, *args, *one, "--set", "dse.trials=2")[0] == 0
    first = {t.number: (t.params, t.values) for t in trials(url, "dse_har")}
    assert cli(capsys, *args, *one, "--set", "dse.trials=2")[0] == 0      # nothing to do
    assert len(trials(url, "dse_har")) == 2
    code, stdout, _ = cli(capsys, *args, *one, "--set", "dse.trials=4")
    assert code == 0 and "complete: full 4" in stdout
    done = check_complete_trials(url, "dse_har", FIELDS)
    assert [t.number for t in done] == [0, 1, 2, 3]
    assert {n: first[n] for n in first} == {t.number: (t.params, t.values) for t in done[:2]}
    ran = [t for t in done if "same_as" not in t.user_attrs]
    assert sorted(p.name for p in (out / "trials").iterdir()) == \
        [f"full-{t.number:04d}" for t in ran]
    # the same study under another space is refused, before any trial
    code, _, err = cli(capsys, *args, *one, "--set", "dse.space.adapt.lr.high=0.05")
    assert code == 2 and "study 'dse_har'" in err and "another space" in err
    # and a new study in a folder that holds another study's trials
    code, _, err = cli(capsys, *args, *one, "--set", "dse.study=other")
    assert code == 2 and err.startswith("snnx: error: --out:")
    code, stdout, _ = cli(capsys, *args, *one, "--report-only")
    assert code == 0 and "complete: full 4" in stdout


def test_identical_configuration_reuses_the_result(capsys, tmp_path):
    """A two-value space: the sampler proposes a configuration twice; the second costs 0."""
    out = tmp_path / "s"
    only = sets("dse.fidelity=null", "dse.sampler=random", "dse.trials=4",
                "dse.space={adapt.rule: {choices: [dfa, bp]}}")
    assert cli(capsys, "-q", "dse", "--recipe", DSE_HAR, "--out", str(out), *only)[0] == 0
    done = check_complete_trials(f"sqlite:///{out / 'study.db'}", "dse_har", FIELDS)
    copies = [t for t in done if "same_as" in t.user_attrs]
    unique = {t.params["adapt.rule"] for t in done}
    assert len(copies) == 4 - len(unique) >= 2
    assert all(t.user_attrs["compute_s"] == 0 for t in copies)
    for t in copies:
        src = next(s for s in done if s.number == t.user_attrs["same_as"])
        assert t.params == src.params and t.values == src.values
