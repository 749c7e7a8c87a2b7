"""``snnx dse``: multi-objective design-space search of a recipe's ``dse:`` block on Optuna.

Everything the search needs is checked before the first trial (the recipe, the search
space against the recipe, the objectives against report.json, the storage); a user error is
one line and exit status 2. Re-running the same command continues the study; ``--workers N``
runs N worker processes on this machine, and any machine given the same ``--storage`` joins
the study (docs/dse.md).
"""

from __future__ import annotations

import argparse
import logging
import signal
import subprocess
import sys
from pathlib import Path

from snnx.cli.common import add_set, add_threads, set_examples, set_threads
from snnx.errors import SnnxError

HELP = "multi-objective design-space search (accuracy, energy, latency, area) on Optuna"

EXAMPLES = """\
  snnx dse --recipe recipes/dse_har.yaml --workers 2      # study in runs/dse/dse_har/
  snnx dse --recipe dse_har                               # again: continues the study
  snnx dse --recipe dse_har --set dse.trials=120          # extends it
  snnx dse --recipe dse_har --set dse.sampler=nsga2 --set dse.fidelity=null \\
      --set dse.study=dse_har_nsga2                       # the baseline, full fidelity
  snnx dse --recipe dse_har --storage postgresql://me@dbhost/snnx --workers 2   # per machine
  snnx dse --recipe dse_har --report-only                 # rewrite pareto.csv & co.
"""

log = logging.getLogger(__name__)


def add_args(p: argparse.ArgumentParser) -> None:
    set_examples(p, EXAMPLES)
    add_threads(p, "1 per worker")
    p.add_argument("--recipe", metavar="R", help="recipe with a dse: block (path or shipped "
                                                 "name, e.g. dse_har)")
    add_set(p, "a recipe or dse key", "dse.trials=120")
    p.add_argument("--out", metavar="DIR",
                   help="study folder: trial runs, outputs, study.db (default "
                        "runs/dse/<study>/)")
    p.add_argument("--storage", metavar="URL",
                   help="Optuna storage (default sqlite:///<out>/study.db); "
                        "postgresql://user@host/db shares the study between machines")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="worker processes on this machine (default 1)")
    p.add_argument("--heartbeat", type=int, default=60, metavar="S",
                   help="worker heartbeat, s: a trial whose worker is silent for 2*S s is "
                        "failed and retried (default 60)")
    p.add_argument("--report-only", action="store_true",
                   help="run no trial; write the outputs from the storage")
    p.add_argument("--print-config", action="store_true",
                   help="print the resolved recipe with its dse block and exit")
    p.add_argument("--worker-index", type=int, help=argparse.SUPPRESS)


def _child_argv(args: argparse.Namespace, out: Path, url: str, k: int) -> list[str]:
    argv = [sys.executable, "-m", "snnx"] + (["-v"] if args.verbose else []) + [
        "dse", "--recipe", str(args.recipe), "--out", str(out), "--storage", url,
        "--heartbeat", str(args.heartbeat), "--worker-index", str(k)]
    if args.threads is not None:
        argv += ["--threads", str(args.threads)]
    for item in args.set:
        argv += ["--set", item]
    return argv


def _stop(children: list[subprocess.Popen]) -> None:
    for c in children:
        if c.poll() is None:
            c.send_signal(signal.SIGINT)
    for c in children:
        try:
            c.wait(timeout=120)
        except subprocess.TimeoutExpired:  # pragma: no cover - a stuck child
            c.kill()


def _interrupt(signum: int, frame: object) -> None:  # pragma: no cover - signal handler
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    from snnx.dse.problem import load_problem
    from snnx.pipeline.recipe_files import load_recipe

    if not args.recipe:
        raise SnnxError("--recipe: required (a recipe with a dse: block, e.g. dse_har)")
    if args.workers < 1:
        raise SnnxError(f"--workers: must be >= 1, got {args.workers}")
    if args.heartbeat < 1:
        raise SnnxError(f"--heartbeat: must be >= 1 s, got {args.heartbeat}")
    recipe = load_recipe(args.recipe, args.set)
    problem = load_problem(recipe)
    if args.print_config:
        print(recipe.to_yaml(), end="")
        return 0
    from snnx.dse.outputs import summary_lines, write_outputs
    from snnx.dse.study import default_storage, open_storage, open_studies, study_exists
    from snnx.dse.worker import Worker

    out = Path(args.out or Path("runs") / "dse" / problem.study)
    url = args.storage or default_storage(out)
    set_threads(args.threads)
    child = args.worker_index is not None
    if child:
        signal.signal(signal.SIGTERM, _interrupt)
    storage = open_storage(url, heartbeat=args.heartbeat)
    exists = study_exists(storage, problem.study)
    if args.report_only and not exists:
        raise SnnxError(f"--report-only: no study {problem.study!r} in the storage")
    trials = out / "trials"
    if not exists and not child and trials.is_dir() and any(trials.iterdir()):
        raise SnnxError(f"--out: {out} holds the trials of another study (none called "
                        f"{problem.study!r} in the storage); choose another --out or remove it")
    studies = open_studies(problem, storage, url, worker=args.worker_index or 0)
    if not args.report_only:
        if not child:
            log.info("study %s: %s; trial runs in %s", problem.study,
                     "continuing" if exists else "new", trials)
        children = [] if child else [
            subprocess.Popen(_child_argv(args, out, url, k)) for k in range(1, args.workers)]
        try:
            Worker(studies, out, worker=args.worker_index or 0,
                   quiet_runs=not args.verbose).run()
        except BaseException:
            _stop(children)
            raise
        failed = [c.args[-1] for c in children if c.wait() != 0]
        if failed:
            raise SnnxError(f"--workers: {len(failed)} worker process(es) failed (see above)")
        if child:
            return 0
    summary = write_outputs(studies, out)
    print("\n".join(summary_lines(summary, out)))
    return 0
