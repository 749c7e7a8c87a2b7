"""A search worker: asks Optuna for trials, runs each as one ``snnx adapt`` run, promotes.

Any number of workers, in one process or on many machines, run :meth:`Worker.run` against
the same storage; each decision is made from the storage, so nothing else schedules them:

1. a full evaluation waiting in the record study's queue (a promotion, or the retry of an
   interrupted trial) is run first;
2. otherwise, while the study has fewer than ``dse.trials`` sampler trials (and less than
   ``dse.budget_s`` CPU seconds spent), the sampler proposes a trial -- at the cheap
   fidelity when the recipe has a ``fidelity`` block;
3. a cheap trial is *promoted* (enqueued into the record study at full fidelity) when it is
   promising: not dominated by another cheap trial, and, with its fidelity-dependent
   objectives (accuracy) moved by the gain seen so far between cheap and full evaluations
   of the same configuration plus ``fidelity.margin``, not dominated by the full-fidelity
   front; at most ``fidelity.max_promoted`` of the cheap trials are promoted.

The worker that finishes a cheap trial decides its promotion alone, so no trial is
promoted twice. A trial is one :class:`~snnx.pipeline.run.Run` in this process, in
``<out>/trials/<fidelity>-<number>/``; its cost is the CPU time of that run. A trial whose
parameters equal a finished trial's at the same fidelity reuses its result (runs are
deterministic for a given recipe and seed) at no cost. Ctrl-C fails the running trial,
removes its folder and re-enqueues its parameters, so the next ``snnx dse`` continues; a
Ctrl-C (or SIGTERM) outside a trial's run waits until the storage is consistent (no trial
is left RUNNING by an interrupted storage call).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from snnx.dse.problem import report_value
from snnx.dse.study import Studies, _optuna
from snnx.errors import SnnxError

log = logging.getLogger(__name__)

MAX_FAILURES = 3
"""A worker stops after this many failed trials in a row (a systematic error)."""

_QUEUED = ("cheap_trial", "retry_of", "started")  # user attrs of a trial taken from the queue


def _dominated(p: np.ndarray, others: np.ndarray) -> bool:
    """Whether a row of ``others`` dominates ``p`` (minimisation)."""
    if len(others) == 0:
        return False
    return bool(((others <= p).all(1) & (others < p).any(1)).any())


class Worker:
    """One worker of a search (see the module docstring).

    Args:
        studies: the opened studies.
        out: the study folder (trial run folders go to ``out/trials/``).
        worker: index of this worker (seeds its sampler; shown in the log).
        quiet_runs: silence the runs' own INFO logging.
    """

    def __init__(self, studies: Studies, out: str | os.PathLike, *, worker: int = 0,
                 quiet_runs: bool = True) -> None:
        self.studies = studies
        self.problem = studies.problem
        self.cfg = studies.problem.config
        self.out = Path(out)
        self.worker = worker
        self.quiet_runs = quiet_runs
        self.failures = 0
        self.last_error = ""
        self.ran = 0
        self._in_run = False
        self._stop = False
        self._stop_asking = False  # a fresh trial came back over dse.trials: done
        self.optuna = _optuna()
        self.sign = np.array(self.problem.signs)

    # ------------------------------------------------------------------ the loop
    def run(self, max_trials: int | None = None) -> int:
        """Run trials until the search has its trials or its budget (or ``max_trials`` by
        this worker); return how many this worker ran.

        Raises:
            SnnxError: after :data:`MAX_FAILURES` failed trials in a row.
        """
        s, st = self.studies, self.optuna.trial.TrialState
        main_objective = self.full_objective
        driver_objective = self.cheap_objective if s.cheap is not None else self.full_objective
        start = self.ran
        with self._signals():
            while max_trials is None or self.ran - start < max_trials:
                if self._stop:
                    raise KeyboardInterrupt
                self.optuna.storages.fail_stale_trials(s.main)
                if s.cheap is not None and s.main.get_trials(deepcopy=False,
                                                             states=(st.WAITING,)):
                    s.main.optimize(main_objective, n_trials=1, gc_after_trial=False)
                elif self.remaining() and not self._stop_asking:
                    s.driver.optimize(driver_objective, n_trials=1, gc_after_trial=False)
                else:
                    break
                if self.failures >= MAX_FAILURES:
                    raise SnnxError(f"dse: {self.failures} trials in a row failed (last: "
                                    f"{self.last_error}); fix the recipe or the space")
        return self.ran - start

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        """SIGINT / SIGTERM stop a trial's run at once (KeyboardInterrupt), but only set a
        flag while the worker talks to the storage; the loop stops at its next turn."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: Any) -> None:
            self._stop = True
            if self._in_run:
                raise KeyboardInterrupt

        old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, h in old.items():
                signal.signal(sig, h)

    def remaining(self) -> bool:
        """Whether the sampler may propose another trial (trial count and CPU budget)."""
        st = self.optuna.trial.TrialState
        active = self.studies.driver.get_trials(
            deepcopy=False, states=(st.COMPLETE, st.RUNNING, st.WAITING))
        if len(active) >= self.cfg.trials:
            return False
        return self.cfg.budget_s is None or self.spent() < self.cfg.budget_s

    def spent(self) -> float:
        """CPU seconds used by the finished trials of both studies."""
        st = self.optuna.trial.TrialState
        total = 0.0
        for study in (self.studies.main, self.studies.cheap):
            if study is not None:
                total += sum(float(t.user_attrs.get("compute_s", 0.0)) for t in
                             study.get_trials(deepcopy=False, states=(st.COMPLETE,)))
        return total

    # ------------------------------------------------------------------ objectives
    def cheap_objective(self, trial: Any) -> list[float]:
        """A screening trial at the cheap fidelity; promotes it when promising."""
        values = self.evaluate(trial, "cheap")
        if all(math.isfinite(v) for v in values) and self.promising(trial, values):
            self.studies.main.enqueue_trial(trial.params, user_attrs={
                "cheap_trial": trial.number, "cheap_values": list(values)})
            trial.set_user_attr("promoted", True)
            log.info("[w%d] cheap #%d promoted to a full evaluation", self.worker,
                     trial.number)
        return values

    def full_objective(self, trial: Any) -> list[float]:
        """A trial at full fidelity (the record)."""
        if self.studies.cheap is not None and not set(_QUEUED) & set(trial.user_attrs):
            # two workers saw the same queued trial; the one that came second gets a fresh
            # trial from the sampler, which a multi-fidelity search does not run at full
            raise self.optuna.TrialPruned("no queued configuration (another worker took it)")
        return self.evaluate(trial, "full")

    # ------------------------------------------------------------------ one trial
    def suggest(self, trial: Any) -> dict[str, Any]:
        """Ask the trial for every parameter of the space (Optuna values)."""
        for name, p in self.cfg.space.items():
            if p.kind == "choice":
                trial.suggest_categorical(name, list(p.encoded_choices()))
            elif p.kind == "int":
                trial.suggest_int(name, int(p.low), int(p.high), step=int(p.step or 1),
                                  log=p.log)
            else:
                trial.suggest_float(name, float(p.low), float(p.high), step=p.step, log=p.log)
        return dict(trial.params)

    def _check_count(self, trial: Any) -> None:
        """Prune a fresh sampler trial that would exceed ``dse.trials`` (two workers asked at
        the same moment); queued trials always run."""
        if set(_QUEUED) & set(trial.user_attrs) or trial.study is not self.studies.driver:
            return
        st = self.optuna.trial.TrialState
        ahead = [t for t in trial.study.get_trials(
            deepcopy=False, states=(st.COMPLETE, st.RUNNING, st.WAITING)) if t.number < trial.number]
        if len(ahead) >= self.cfg.trials:
            self._stop_asking = True
            raise self.optuna.TrialPruned("the study already has its trials")

    def _same(self, trial: Any, params: dict) -> Any:
        st = self.optuna.trial.TrialState
        for t in trial.study.get_trials(deepcopy=False, states=(st.COMPLETE,)):
            if t.params == params and t.number != trial.number:
                return t
        return None

    def evaluate(self, trial: Any, fidelity: str) -> list[float]:
        """Run ``trial`` at ``fidelity``; return its objective values (NaN when it failed)."""
        self._check_count(trial)
        params = self.suggest(trial)
        for key, value in (("fidelity", fidelity), ("worker", self.worker),
                           ("host", socket.gethostname()), ("pid", os.getpid()),
                           ("started", time.time())):
            trial.set_user_attr(key, value)
        same = self._same(trial, params)
        if same is not None:
            for key in ("run_dir",):
                trial.set_user_attr(key, same.user_attrs.get(key))
            trial.set_user_attr("same_as", same.number)
            trial.set_user_attr("compute_s", 0.0)
            self._log(trial, fidelity, params, list(same.values), 0.0, f"= #{same.number}")
            self.failures, self.ran = 0, self.ran + 1
            return list(same.values)
        run_dir = self.out / "trials" / f"{fidelity}-{trial.number:04d}"
        try:
            values, cpu, wall = self._run(params, fidelity, run_dir)
        except SnnxError as e:
            self.failures += 1
            self.last_error = f"{fidelity} #{trial.number}: {' '.join(str(e).split())}"
            trial.set_user_attr("error", self.last_error)
            log.warning("[w%d] %s failed: %s", self.worker, f"{fidelity} #{trial.number}",
                        self.last_error)
            return [math.nan] * len(self.problem.fields)
        except KeyboardInterrupt:
            shutil.rmtree(run_dir, ignore_errors=True)
            self._requeue(trial)
            raise
        for key, value in (("compute_s", cpu), ("wall_s", wall), ("run_dir", str(run_dir))):
            trial.set_user_attr(key, value)
        self._log(trial, fidelity, params, values, cpu, "")
        self.failures, self.ran = 0, self.ran + 1
        return values

    def _run(self, params: dict, fidelity: str, run_dir: Path) -> tuple[list[float], float, float]:
        from snnx.pipeline.run import Run

        recipe = self.problem.trial_recipe(params, fidelity)
        if run_dir.exists():  # left by a crashed attempt of this very trial number
            shutil.rmtree(run_dir)
        quiet = [logging.getLogger(n) for n in ("snnx.pipeline", "snnx.monitor", "snnx.nn")]
        levels = [q.level for q in quiet]
        if self.quiet_runs:
            for q in quiet:
                q.setLevel(logging.WARNING)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        try:
            self._in_run = True
            if self._stop:
                raise KeyboardInterrupt
            job = Run(recipe, out=run_dir)
            job.setup()
            report = job.run()
        finally:
            self._in_run = False
            for q, lvl in zip(quiet, levels):
                q.setLevel(lvl)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        return [report_value(report, f) for f in self.problem.fields], cpu, wall

    def _requeue(self, trial: Any) -> None:
        """Put an interrupted trial's parameters back in its study's queue."""
        optuna = self.optuna
        keep = {k: v for k, v in trial.user_attrs.items() if k in ("cheap_trial", "cheap_values")}
        trial.study.add_trial(optuna.trial.create_trial(
            state=optuna.trial.TrialState.WAITING, params=dict(trial.params),
            distributions=dict(trial.distributions),
            user_attrs={**keep, "retry_of": trial.number}))
        log.warning("[w%d] interrupted: trial #%d goes back to the queue", self.worker,
                    trial.number)

    def _log(self, trial: Any, fidelity: str, params: dict, values: list[float], cpu: float,
             note: str) -> None:
        shown = ", ".join(f"{k.rsplit('.', 1)[-1]}={v:.3g}" if isinstance(v, float) else
                          f"{k.rsplit('.', 1)[-1]}={v}" for k, v in params.items())
        got = ", ".join(f"{o.label} {v:.4g}" for o, v in
                        zip(self.cfg.objectives.values(), values))
        log.info("[w%d] %-5s #%-3d %s -> %s (%.1f s CPU) %s", self.worker, fidelity,
                 trial.number, shown, got, cpu, note)

    # ------------------------------------------------------------------ promotion
    def promising(self, trial: Any, values: list[float]) -> bool:
        """Whether a finished cheap trial earns a full evaluation (module docstring)."""
        s, st, fid = self.studies, self.optuna.trial.TrialState, self.cfg.fidelity
        cheap = [t for t in s.cheap.get_trials(deepcopy=False, states=(st.COMPLETE,))
                 if t.number != trial.number]
        promoted = [t for t in s.main.get_trials(deepcopy=False) if "cheap_trial" in
                    t.user_attrs and t.state not in (st.FAIL, st.PRUNED)]
        if len(promoted) >= math.ceil(fid.max_promoted * (len(cheap) + 1)):
            return False
        if any((t.params or t.system_attrs.get("fixed_params")) == trial.params
               for t in promoted):  # a queued trial holds its parameters as fixed_params
            return False
        mine = self.sign * np.asarray(values, dtype=float)
        if _dominated(mine, self.sign * np.array([t.values for t in cheap]).reshape(-1, len(mine))):
            return False
        full = [t for t in s.main.get_trials(deepcopy=False, states=(st.COMPLETE,))]
        pairs = [(t.values, t.user_attrs["cheap_values"]) for t in full
                 if "cheap_values" in t.user_attrs]
        gain = np.zeros(len(mine))
        if pairs:  # mean improvement of full over cheap, in minimisation units (<= 0: better)
            gain = (self.sign * (np.array([f for f, _ in pairs]) -
                                 np.array([c for _, c in pairs]))).mean(0)
        dep = np.array(self.problem.fidelity_dependent, dtype=float)
        optimistic = mine + dep * (gain - fid.margin)
        return not _dominated(optimistic, self.sign * np.array([t.values for t in full]
                                                                ).reshape(-1, len(mine)))
