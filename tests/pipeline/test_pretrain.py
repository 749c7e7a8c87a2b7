"""Pretraining on a step budget: the budget formula, validation, early stopping, the best
weights restored, the near-chance flag; the data splits behind it (validation bouts, the
target's own held-out fraction, >= 300 held-out target windows in the shipped recipes)."""

from __future__ import annotations

import json
from types import SimpleNamespace as NS

import numpy as np
import pytest
import torch

from snnx.data.har_synth import synthetic_har
from snnx.pipeline import model as pm
from snnx.pipeline.data import prepare
from snnx.pipeline.pretrain import budget, chance_level, fit, near_chance
from snnx.pipeline.recipe_files import load_recipe
from pipeline_helpers import HAR_DFA, TINY, cli, sets


def cfg(**kw):
    base = dict(steps=40, epochs=0, batch_size=8, val_every=5, patience=10,
                early_stop_on="accuracy")
    return NS(**{**base, **kw})


@pytest.mark.parametrize("steps, epochs, batch, n, expect", [
    (600, 10, 64, 180, (600, 3)),      # small set: the step floor holds whatever epochs say
    (600, 30, 64, 2169, (1020, 34)),   # large set: epochs ask for more
    (0, 10, 64, 2169, (340, 34)),      # the old 10-epoch budget
    (0, 0, 64, 2169, (0, 34)),         # no pretraining
    (50, 0, 16, 1, (50, 1)),
])
def test_budget_is_max_of_steps_and_epochs(steps, epochs, batch, n, expect):
    assert budget(NS(steps=steps, epochs=epochs, batch_size=batch), n) == expect


def test_near_chance_threshold():
    assert chance_level(torch.tensor([0, 0, 1, 2])) == 0.5
    assert near_chance(0.249, 1 / 6) and not near_chance(0.251, 1 / 6)  # 1.5 x chance
    assert near_chance(0.84, 0.7) and not near_chance(0.86, 0.7)        # halfway to 100 %


def _net_and_data(seed=0, n=64, val_n=32, classes=4):
    r = load_recipe("digits_dfa", ["model.hidden=[8]"])
    net = pm.build_net(r, 64, 1, classes)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 64, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    xv = torch.randn(val_n, 64, generator=g)
    yv = torch.randint(0, classes, (val_n,), generator=g)   # unrelated labels: no real gain
    return net, x, y, (xv, yv)


def _fit(net, x, y, val, c, seed=0):
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    states: dict[int, dict] = {}
    records = []

    def on_record(rec):
        records.append(rec)
        states[rec["step"]] = {k: v.clone() for k, v in net.state_dict().items()}

    history, summary = fit(net, opt, x, y, val, c, torch.Generator().manual_seed(seed),
                           on_record)
    return history, summary, states, records


@pytest.mark.parametrize("on", ["accuracy", "loss"])
def test_early_stopping_stops_after_patience_and_restores_the_best(on):
    net, x, y, val = _net_and_data()
    history, summary, states, records = _fit(net, x, y, val, cfg(early_stop_on=on,
                                                                 steps=400))
    best = summary["best_step"]
    assert summary["stopped_early"] and summary["steps"] == best + 10 < 400
    assert history["step"] == [r["step"] for r in records] == list(range(5, best + 11, 5))
    key = (lambda i: -history["val_loss"][i]) if on == "loss" else (
        lambda i: (history["val_accuracy"][i], -history["val_loss"][i]))
    assert history["step"][max(range(len(records)), key=key)] == best
    for k, v in net.state_dict().items():          # the best weights, not the last ones
        assert torch.equal(v, states[best][k]), k
    assert summary["val_loss"] == history["val_loss"][history["step"].index(best)]
    assert summary["val_windows"] == 32 and summary["steps_per_epoch"] == 8


def test_patience_zero_runs_the_whole_budget_without_validation_keeps_last():
    net, x, y, val = _net_and_data()
    _, summary, _, _ = _fit(net, x, y, val, cfg(patience=0, steps=37))
    assert summary["steps"] == 37 and not summary["stopped_early"]
    net, x, y, _ = _net_and_data()
    history, summary, states, _ = _fit(net, x, y, None, cfg(steps=37))
    assert summary["best_step"] is None and summary["val_windows"] == 0
    assert history["step"][-1] == 37 and history["val_loss"][-1] is None
    for k, v in net.state_dict().items():
        assert torch.equal(v, states[37][k]), k


def test_validation_leaves_the_training_trajectory_alone():
    """Validating (isolated forward passes) changes what is kept, not how training goes."""
    a, x, y, val = _net_and_data()
    b, _, _, _ = _net_and_data()
    _, _, states_a, _ = _fit(a, x, y, val, cfg(patience=0, steps=20))
    _, _, states_b, _ = _fit(b, x, y, None, cfg(patience=0, steps=20))
    for k in states_a[20]:
        assert torch.equal(states_a[20][k], states_b[20][k]), k


def _tiny(*extra):
    return load_recipe(HAR_DFA, [*TINY, *extra])


def test_validation_bouts_are_held_out_of_the_source_training_windows():
    with_val = prepare(_tiny("pretrain.val_fraction=0.3"))
    without = prepare(_tiny("pretrain.val_fraction=0"))
    assert without.source_val is None and without.info["source_val"] == 0
    fit_, val = with_val.source_train, with_val.source_val
    assert len(fit_) + len(val) == len(without.source_train)
    key = lambda ds: {(int(s), float(t)) for s, t in zip(ds.subject, ds.t)}  # noqa: E731
    assert not key(fit_) & key(val)
    assert key(fit_) | key(val) == key(without.source_train)
    assert 0.1 < len(val) / len(without.source_train) < 0.5
    np.testing.assert_array_equal(with_val.mean, without.mean)  # same standardisation
    np.testing.assert_array_equal(with_val.source_test.X, without.source_test.X)


def test_target_test_fraction_applies_to_the_target_only():
    longer = "data.synthetic_har.target_windows_per_activity=20"
    base = prepare(_tiny(longer))
    more = prepare(_tiny(longer, "data.target_test_fraction=0.6"))
    assert more.info["target_test"] > base.info["target_test"]
    assert more.info["target_test"] + more.info["stream"] == \
        base.info["target_test"] + base.info["stream"]
    np.testing.assert_array_equal(more.source_train.X, base.source_train.X)
    np.testing.assert_array_equal(more.source_test.X, base.source_test.X)


def test_longer_target_recordings_leave_the_sources_unchanged():
    a = synthetic_har(seed=3, n_source=2, n_target=1, windows_per_activity=5)
    b = synthetic_har(seed=3, n_source=2, n_target=1, windows_per_activity=5,
                      target_windows_per_activity=9)
    src = lambda ds: ds.subject <= 2  # noqa: E731
    np.testing.assert_array_equal(a.X[src(a)], b.X[src(b)])
    assert (~src(b)).sum() == 6 * 9 and (~src(a)).sum() == 6 * 5


@pytest.mark.parametrize("recipe", ["har_dfa", "har_bp", "har_logsgd", "har_ann_dfa",
                                    "digits_dfa"])
def test_shipped_recipes_hold_out_at_least_300_target_windows(recipe):
    info = prepare(load_recipe(recipe)).info
    assert info["target_test"] >= 300, info
    assert info["source_val"] > 0


def test_report_and_log_flag_a_network_near_chance(capsys, in_tmp, caplog):
    code, out, err = cli(capsys, "train", "--recipe", HAR_DFA, *sets(
        "pretrain.steps=0", "monitor.tensorboard=false"), "--out", "untrained")
    assert code == 0, err
    rep = json.loads((in_tmp / "untrained" / "report.json").read_text())
    p = rep["pretrain"]
    y = prepare(_tiny("pretrain.steps=0")).source_test.y
    assert p["steps"] == 0 and p["chance"] == np.bincount(y).max() / len(y)
    assert p["near_chance"] == near_chance(rep["accuracy"]["software"], p["chance"])
    assert p["near_chance"] and "near chance" in p["warning"]
    assert any("near chance" in r.getMessage() and r.levelname == "WARNING"
               for r in caplog.records)
    from snnx.pipeline.report import summary_lines

    assert any(line.startswith("warning    software accuracy") for line in
               summary_lines({**rep, "run_dir": "x"}))


def test_report_holds_the_pretraining_summary(capsys, in_tmp):
    code, _, err = cli(capsys, "train", "--recipe", HAR_DFA, *sets(
        "monitor.tensorboard=false", "pretrain.steps=20", "pretrain.val_every=5"),
        "--out", "trained")
    assert code == 0, err
    p = json.loads((in_tmp / "trained" / "report.json").read_text())["pretrain"]
    assert p["budget"] == 20 and 5 <= p["steps"] <= 20 and p["best_step"] % 5 == 0
    assert p["val_windows"] > 0 and 0 <= p["val_accuracy"] <= 1
    metrics = [json.loads(line) for line in
               (in_tmp / "trained" / "metrics.jsonl").read_text().splitlines()]
    steps = [m["step"] for m in metrics if m.get("tag") == "pretrain/val_accuracy"]
    assert steps == list(range(5, p["steps"] + 1, 5))
