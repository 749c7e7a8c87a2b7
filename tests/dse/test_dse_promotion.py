"""The promotion rule of the multi-fidelity search, on hand-made trials (no runs)."""

from __future__ import annotations

import dataclasses
import types

import optuna
import pytest

from snnx.dse.problem import load_problem
from snnx.dse.study import Studies
from snnx.dse.worker import Worker
from snnx.pipeline.recipe_files import load_recipe

from dse_helpers import DSE_HAR, TINY

LR = optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)


@pytest.fixture
def worker(tmp_path):
    prob = load_problem(load_recipe(DSE_HAR, [*TINY, "dse.objectives={accuracy.adapted: "
                                              "maximize, cost.energy_j: minimize}",
                                              "dse.fidelity.margin=0.02",
                                              "dse.fidelity.max_promoted=1.0"]))
    make = lambda: optuna.create_study(directions=prob.directions)  # noqa: E731 - in memory
    return Worker(Studies(problem=prob, url="memory", main=make(), cheap=make()), tmp_path)


def _add(study, lr, values, **attrs):
    study.add_trial(optuna.trial.create_trial(params={"adapt.lr": lr}, distributions={
        "adapt.lr": LR}, values=values, user_attrs=attrs))


def _ask(worker, lr, values):
    """Is a cheap trial with these values promising? (it is the next cheap trial)"""
    n = len(worker.studies.cheap.get_trials())
    return worker.promising(types.SimpleNamespace(number=n, params={"adapt.lr": lr}), values)


def test_first_trial_is_promoted(worker):
    assert _ask(worker, 1e-3, [0.5, 1e-6])


def test_dominated_by_a_cheap_trial_is_not(worker):
    _add(worker.studies.cheap, 2e-3, [0.6, 1e-6])
    assert not _ask(worker, 1e-3, [0.5, 2e-6])
    assert _ask(worker, 1e-3, [0.5, 0.5e-6])          # trade-off: cheaper, less accurate


def test_full_front_with_margin_and_observed_gain(worker):
    s = worker.studies
    _add(s.cheap, 2e-3, [0.50, 3e-6], promoted=True)
    _add(s.main, 2e-3, [0.80, 3e-6], cheap_trial=0, cheap_values=[0.50, 3e-6])  # gain +0.30
    # 0.55 cheap + 0.30 gain + 0.02 margin = 0.87 > 0.80: could join the full front
    assert _ask(worker, 1e-3, [0.55, 3e-6])
    # 0.45 + 0.32 = 0.77 < 0.80 at equal energy: the full front already dominates it
    assert not _ask(worker, 1e-3, [0.45, 3.5e-6])


def test_without_gain_the_margin_decides(worker):
    s = worker.studies
    _add(s.main, 2e-3, [0.80, 3e-6])                     # a full trial with no cheap pair
    assert not _ask(worker, 1e-3, [0.77, 3e-6])          # 0.77 + 0.02 < 0.80
    assert _ask(worker, 1e-3, [0.79, 3e-6])              # 0.79 + 0.02 > 0.80


def test_cap_and_no_second_promotion_of_a_configuration(worker):
    s = worker.studies
    _add(s.cheap, 2e-3, [0.5, 1e-6], promoted=True)
    s.main.enqueue_trial({"adapt.lr": 2e-3}, user_attrs={"cheap_trial": 0,
                                                         "cheap_values": [0.5, 1e-6]})
    assert not _ask(worker, 2e-3, [0.6, 1e-6])           # same configuration: queued already
    assert _ask(worker, 3e-3, [0.6, 1e-6])
    cfg = dataclasses.replace(worker.cfg, fidelity=dataclasses.replace(
        worker.cfg.fidelity, max_promoted=0.5))
    capped = Worker(dataclasses.replace(s, problem=dataclasses.replace(worker.problem,
                                                                       config=cfg)), worker.out)
    # 1 cheap done + this one = 2; half of 2 = 1 already promoted
    assert not capped.promising(types.SimpleNamespace(number=1, params={"adapt.lr": 3e-3}),
                                [0.6, 1e-6])
