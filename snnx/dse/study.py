"""The Optuna side of a search: storage, samplers, the studies and their finished trials.

A search is one or two Optuna studies in one RDB storage (SQLite file by default, PostgreSQL
to share between machines; DESIGN.md "Scale"):

* ``<study>`` -- the record: every trial at full fidelity. Its Pareto front is the result,
  and ``optuna-dashboard`` shows it as it is.
* ``<study>.cheap`` -- only with a ``fidelity`` block: the sampler's screening trials at the
  cheap fidelity. Promising ones are *enqueued* into ``<study>`` (Optuna's trial queue:
  ``enqueue_trial``, popped atomically by the storage), so any worker on any machine may
  run them. Nothing else coordinates the workers: every decision is made from the storage.

Each trial keeps ``user_attrs``: ``fidelity``, ``compute_s`` (CPU seconds of its run),
``wall_s``, ``run_dir``, ``host``, ``worker``, and for full trials of a multi-fidelity search
``cheap_trial`` / ``cheap_values`` (the screening trial it was promoted from). Crashed
workers: the storage's heartbeat marks their trials failed after a grace period and
re-enqueues them with the same parameters (Optuna's ``RetryHeartbeatStaleTrialCallback``).
"""

from __future__ import annotations

import dataclasses
import json
import time
import warnings
from pathlib import Path
from typing import Any

from snnx.config.seeds import derive
from snnx.config.yamlio import one_line
from snnx.dse.config import DseConfig
from snnx.dse.problem import Problem
from snnx.errors import ConfigError, SnnxError

FINGERPRINT = "snnx.fingerprint"
CHEAP_SUFFIX = ".cheap"


def _optuna():
    try:
        import optuna
    except ImportError:  # pragma: no cover - depends on the environment
        raise SnnxError("dse: Optuna is not installed; pip install 'snnx[dse]'") from None
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def default_storage(out: Path) -> str:
    """``sqlite:///<out>/study.db`` (absolute path)."""
    return f"sqlite:///{(Path(out) / 'study.db').resolve()}"


def safe_url(url: str) -> str:
    """The storage URL with any password hidden (for messages and outputs)."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown without its user part
        return url.split("@")[-1]


def with_driver(url: str) -> str:
    """A ``postgresql://`` (or ``postgres://``) URL with an installed driver named
    (``postgresql+psycopg2://``, else ``+psycopg``): SQLAlchemy's default driver differs
    between versions. Other URLs are returned as they are."""
    import importlib.util

    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            for module in ("psycopg2", "psycopg"):
                if importlib.util.find_spec(module) is not None:
                    return f"postgresql+{module}://" + url[len(scheme):]
    return url


def open_storage(url: str, *, heartbeat: int = 60) -> Any:
    """Optuna's RDB storage for ``url`` with a heartbeat of ``heartbeat`` s (a trial whose
    worker stops beating for ``2 * heartbeat`` s is failed and retried with its parameters).

    Raises:
        SnnxError: ``--storage: ...`` when the URL is malformed or the database unreachable.
    """
    optuna = _optuna()
    retry = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
    kw: dict[str, Any] = {"heartbeat_interval": int(heartbeat), "grace_period": 2 * int(heartbeat)}
    if retry is not None:
        kw["heartbeat_stale_trial_callback"] = retry(max_retry=3)
    else:  # pragma: no cover - Optuna < 4.9
        kw["failed_trial_callback"] = optuna.storages.RetryFailedTrialCallback(max_retry=3)
    engine: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        engine = {"connect_args": {"timeout": 120}}
        Path(url.split("sqlite:///", 1)[-1]).parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(5):
        try:
            return optuna.storages.RDBStorage(with_driver(url), engine_kwargs=engine, **kw)
        except Exception as e:  # noqa: BLE001 - SQLAlchemy/driver errors of many kinds
            # two processes opening a new database at once both create its tables; the
            # loser sees "already exists" and finds them complete a moment later
            if "already exists" in str(e) and attempt < 4:
                time.sleep(0.2 * (attempt + 1))
                continue
            raise SnnxError(f"--storage: cannot open {safe_url(url)}: "
                            f"{one_line(e).split(' [SQL:')[0][:300]}") from None


def make_sampler(cfg: DseConfig, worker: int = 0) -> Any:
    """The Optuna sampler named by ``cfg.sampler``, seeded ``cfg.seed`` + 400 + ``worker``
    (each worker its own stream, so that parallel workers do not propose the same points).

    * ``nsga2``: NSGA-II (Deb et al. 2002), the baseline of METHODS.md section 4;
    * ``motpe``: multi-objective TPE (Ozaki et al. 2020), multivariate, with the constant
      liar for parallel workers;
    * ``gp``: Gaussian process with log expected hypervolume improvement (Optuna's
      ``GPSampler``, a BoTorch-style acquisition in Optuna itself);
    * ``random``: uniform sampling.
    """
    optuna = _optuna()
    seed = derive(cfg.seed, "dse.sampler", worker)
    if cfg.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=cfg.population, seed=seed)
    if cfg.sampler == "motpe":
        return optuna.samplers.TPESampler(multivariate=True, n_startup_trials=cfg.startup,
                                          constant_liar=True, seed=seed)
    if cfg.sampler == "gp":
        return optuna.samplers.GPSampler(n_startup_trials=cfg.startup, seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


@dataclasses.dataclass
class Studies:
    """The Optuna studies of one search (see the module docstring).

    Attributes:
        problem: the validated search.
        url: the storage URL.
        main: the full-fidelity study (the record).
        cheap: the screening study, or None without a fidelity block.
    """

    problem: Problem
    url: str
    main: Any
    cheap: Any | None

    @property
    def driver(self) -> Any:
        """The study the sampler drives: the screening study, else the record."""
        return self.cheap if self.cheap is not None else self.main


def _check_fingerprint(study: Any, problem: Problem, url: str) -> None:
    mine = problem.fingerprint()
    stored = study.user_attrs.get(FINGERPRINT)
    if stored is None:
        study.set_user_attr(FINGERPRINT, json.dumps(mine, sort_keys=True))
        study.set_user_attr("snnx.space", json.dumps(problem.config.to_dict()["space"]))
        return
    old = json.loads(stored)
    what = next((k for k in ("space", "objectives", "fidelity", "recipe")
                 if old.get(k) != mine[k]), None)
    if what is not None:
        raise ConfigError(f"dse.study: study {problem.study!r} in {safe_url(url)} was made with "
                          f"another {what}; continue it with the same recipe, or start a new "
                          f"one with --set dse.study=NAME (or another --out)")


def study_exists(storage: Any, name: str) -> bool:
    """Whether ``storage`` holds a study called ``name``."""
    return any(s.study_name == name for s in storage.get_all_studies())


def open_studies(problem: Problem, storage: Any, url: str, *, worker: int = 0) -> Studies:
    """Load (or create) the studies of ``problem`` in ``storage``.

    Raises:
        ConfigError: the stored study was made with another recipe, space, objectives or
            fidelity (trials would not be comparable).
    """
    optuna = _optuna()
    sampler = make_sampler(problem.config, worker)

    def one(name: str) -> Any:
        study = optuna.create_study(storage=storage, study_name=name, sampler=sampler,
                                    directions=problem.directions, load_if_exists=True)
        if [d.name.lower() for d in study.directions] != problem.directions:
            raise ConfigError(f"dse.objectives: study {name!r} has other directions")
        _check_fingerprint(study, problem, url)
        if getattr(study, "metric_names", None) != problem.fields:
            study.set_metric_names(problem.fields)  # shown by optuna-dashboard and its plots
        return study

    main = one(problem.study)
    cheap = one(problem.study + CHEAP_SUFFIX) if problem.multi_fidelity else None
    return Studies(problem=problem, url=url, main=main, cheap=cheap)


@dataclasses.dataclass(frozen=True)
class TrialRecord:
    """One finished trial, as the outputs need it."""

    fidelity: str
    number: int
    params: dict
    values: tuple[float, ...]
    compute_s: float
    finished: Any
    run_dir: str | None
    cheap_trial: int | None


def records(studies: Studies) -> list[TrialRecord]:
    """The complete trials of both studies, in the order they finished."""
    optuna = _optuna()
    out = []
    for study, fidelity in ((studies.main, "full"), (studies.cheap, "cheap")):
        if study is None:
            continue
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
            u = t.user_attrs
            out.append(TrialRecord(fidelity=fidelity, number=t.number, params=dict(t.params),
                                   values=tuple(t.values), compute_s=float(u.get("compute_s", 0)),
                                   finished=t.datetime_complete, run_dir=u.get("run_dir"),
                                   cheap_trial=u.get("cheap_trial")))
    out.sort(key=lambda r: (r.finished, r.fidelity, r.number))
    return out


def counts(studies: Studies) -> dict[str, dict[str, int]]:
    """``{"full"|"cheap": {state name: n}}`` over both studies."""
    out: dict[str, dict[str, int]] = {}
    for study, fidelity in ((studies.main, "full"), (studies.cheap, "cheap")):
        if study is None:
            continue
        tally: dict[str, int] = {}
        for t in study.get_trials(deepcopy=False):
            tally[t.state.name] = tally.get(t.state.name, 0) + 1
        out[fidelity] = tally
    return out
