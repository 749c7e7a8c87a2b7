"""snnx.dse: multi-objective design-space exploration on Optuna (``snnx dse``).

A recipe with a ``dse:`` block declares a search space over any recipe keys (ranges,
choices, log scales), objectives taken from report.json (maximise accuracy; minimise energy,
latency, area) and, optionally, two fidelities. Each trial is one ``snnx adapt`` run of the
base recipe with the sampled values; Optuna's samplers (NSGA-II, multi-objective TPE, a
Gaussian process with expected hypervolume improvement) propose the trials, an Optuna RDB
storage (SQLite by default, PostgreSQL to share across machines) holds the study, and any
number of workers run against it (docs/dse.md).

* :mod:`~snnx.dse.config` -- the ``dse:`` block's schema (torch- and Optuna-free);
* :mod:`~snnx.dse.problem` -- the block checked against the recipe and report.json, trial
  recipes;
* :mod:`~snnx.dse.study` -- storage, samplers, the studies;
* :mod:`~snnx.dse.worker` -- running trials, multi-fidelity promotion;
* :mod:`~snnx.dse.pareto` -- non-dominated sets, exact hypervolume;
* :mod:`~snnx.dse.outputs`, :mod:`~snnx.dse.plots` -- Pareto CSV/JSON/PNG, hypervolume
  against compute, best configurations as recipes.

Multi-fidelity in the spirit of CF-MESMO (Belakaria et al. 2020; METHODS.md section 4):
cheap evaluations screen the space, and only configurations that could still improve the
full-fidelity front are evaluated in full. What it is not: no Gaussian process over
(configuration, fidelity) and no information-per-cost acquisition choosing the fidelity; the
fidelity has two fixed levels and promotion is a dominance test (docs/dse.md).
"""

from snnx.config.lazy import lazy_exports

__getattr__ = lazy_exports(__name__, {
    "DseConfig": "snnx.dse.config", "build_dse": "snnx.dse.config",
    "Problem": "snnx.dse.problem", "load_problem": "snnx.dse.problem",
    "Studies": "snnx.dse.study", "open_storage": "snnx.dse.study",
    "open_studies": "snnx.dse.study", "Worker": "snnx.dse.worker",
    "hypervolume": "snnx.dse.pareto", "non_dominated": "snnx.dse.pareto",
    "write_outputs": "snnx.dse.outputs",
})

__all__ = ["DseConfig", "Problem", "Studies", "Worker", "build_dse", "hypervolume",
           "load_problem", "non_dominated", "open_storage", "open_studies", "write_outputs"]
