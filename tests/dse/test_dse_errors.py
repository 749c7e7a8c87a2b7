"""Bad input stops `snnx dse` with one line naming the key, exit 2, before any trial: no
study folder, no storage, no run."""

from __future__ import annotations

import pytest

from dse_helpers import DSE_HAR, ROOT, cli, sets

BAD = [
    ("dse.space.adapt.lrr={low: 1.0e-3, high: 1.0e-2}",
     "dse.space.adapt.lrr: unknown key; did you mean 'lr'?"),
    ("dse.space.hw.overrides.array.rowz={choices: [64, 128]}",
     "dse.space.hw.overrides.array.rowz: unknown key; did you mean 'rows'?"),
    ("dse.space.adapt.lr.low=0.02", "dse.space.adapt.lr: empty range: low 0.02 >= high 0.01"),
    ("dse.space.adapt.rule={choices: []}", "dse.space.adapt.rule: empty search: 0 choice(s)"),
    ("dse.space.adapt.rule={choices: [dfa, bpp]}",
     "dse.space.adapt.rule: 'bpp' is not one of bp, dfa, logsgd"),
    ("dse.space.hw.overrides.periphery.adc_bits={low: 0, high: 8}",
     "dse.space.hw.overrides.periphery.adc_bits: 0 is out of range [1, 32]"),
    ("dse.space.adapt.lr.low=0", "dse.space.adapt.lr.low: a log-scale range needs low > 0"),
    ("dse.space.adapt.batch_size={low: 2, high: 8, choices: [2, 4]}",
     "dse.space.adapt.batch_size: give either choices or a range"),
    ("dse.space.adapt.batch_size={low: 2, high: 9, step: 2}",
     "dse.space.adapt.batch_size.step: high - low (7) is not a multiple of step 2"),
    ("dse.space=null", "dse.space: empty search space"),
    ("dse.objectives.cost.energy=minimize",
     "dse.objectives.cost.energy: 'cost.energy' is not a numeric report.json field; did you "
     "mean 'cost.energy_j'?"),
    ("dse.objectives.accuracy.adapted=max",
     "dse.objectives.accuracy.adapted.direction: 'max' is not one of maximize, minimize"),
    ("dse.objectives=null", "dse.objectives: none given"),
    ("dse.fidelity.cheap={pretrain.epoch: 1}",
     "dse.fidelity.cheap.pretrain.epoch: unknown key; did you mean 'epochs'?"),
    ("dse.fidelity.cheap.adapt.lr=0.001", "dse.fidelity: adapt.lr is also searched"),
    ("dse.fidelity.full={pretrain.epochs: 1, eval.mc_draws: 1}",
     "dse.fidelity: cheap and full are the same evaluation"),
    ("dse.sampler=tpe", "dse.sampler: 'tpe' is not one of nsga2, motpe, gp, random"),
    ("dse.trials=0", "dse.trials: 0 is out of range"),
]


@pytest.mark.parametrize("override,message", BAD, ids=[b[0].split("=")[0] for b in BAD])
def test_bad_search_fails_before_any_trial(capsys, tmp_path, override, message):
    out = tmp_path / "study"
    code, stdout, err = cli(capsys, "dse", "--recipe", DSE_HAR, "--out", str(out),
                            *sets(override))
    assert code == 2, err
    assert err.startswith(f"snnx: error: {message}"), err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_recipe_without_dse_block(capsys, tmp_path):
    code, _, err = cli(capsys, "dse", "--recipe", str(ROOT / "recipes" / "har_dfa.yaml"),
                       "--out", str(tmp_path / "s"))
    assert code == 2 and err.startswith("snnx: error: dse: the recipe has no dse block")
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("argv,message", [
    (["--workers", "0"], "--workers: must be >= 1"),
    (["--storage", "postgresql://nobody@127.0.0.1:9/none"], "--storage: cannot open "
                                                             "postgresql://nobody@127.0.0.1:9/none"),
    (["--storage", "not-a-url"], "--storage: cannot open"),
])
def test_bad_command_line(capsys, tmp_path, argv, message):
    code, _, err = cli(capsys, "dse", "--recipe", DSE_HAR, "--out", str(tmp_path / "s"),
                       *sets(), *argv)
    assert code == 2 and err.startswith(f"snnx: error: {message}"), err
    assert "Traceback" not in err


def test_password_never_printed(capsys, tmp_path):
    code, _, err = cli(capsys, "dse", "--recipe", DSE_HAR, *sets(), "--storage",
                       "postgresql://me:s3cret@127.0.0.1:9/none")
    assert code == 2 and "s3cret" not in err and "***" in err


def test_print_config_runs_nothing(capsys, tmp_path):
    code, out, _ = cli(capsys, "dse", "--recipe", DSE_HAR, "--out", str(tmp_path / "s"),
                       "--print-config")
    assert code == 0 and "\ndse:\n" in out and "objectives:" in out
    assert not (tmp_path / "s").exists()


def test_adapt_ignores_the_dse_block(capsys):
    code, out, _ = cli(capsys, "adapt", "--recipe", DSE_HAR, "--print-config")
    assert code == 0 and "sampler: motpe" in out


def test_storage_urls():
    from snnx.dse.study import safe_url, with_driver

    assert with_driver("postgresql://u@h/db").startswith(("postgresql+psycopg2://u@h/db",
                                                          "postgresql+psycopg://u@h/db"))
    assert with_driver("postgres://u@h/db").endswith("://u@h/db")
    assert with_driver("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
    assert "pw" not in safe_url("postgresql://u:pw@h/db") and "u:***@h" in safe_url(
        "postgresql://u:pw@h/db")


@pytest.mark.parametrize("over,warns", [
    ([], False),                                 # the shipped recipe: pretrain.steps 0
    (["pretrain.steps=600"], True),              # a step floor under an epochs fidelity
    (["pretrain.steps=600", "dse.fidelity={cheap: {pretrain.steps: 60}, "
      "full: {pretrain.steps: 600}}"], False),   # the fidelity sets the steps itself
])
def test_epochs_fidelity_under_a_step_budget_warns(caplog, over, warns):
    from snnx.dse.problem import load_problem
    from snnx.pipeline.recipe_files import load_recipe

    with caplog.at_level("WARNING", logger="snnx.dse.problem"):
        load_problem(load_recipe(DSE_HAR, over))
    said = [r.getMessage() for r in caplog.records if r.name == "snnx.dse.problem"]
    assert bool(said) == warns, said
    if warns:
        assert "pretrain.steps = 600" in said[0] and "pretrain.epochs" in said[0]
