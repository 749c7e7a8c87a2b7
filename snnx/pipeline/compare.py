"""``snnx compare``: runs side by side, grouped over seeds, with 95 % confidence intervals.

Two ways in:

* **collect** finished runs (:func:`collect`): run folders, or folders searched for them.
  Runs are grouped by what differs between their resolved configs -- recipe name, rule,
  any override, hardware key -- except the seed (:func:`snnx.pipeline.stats.group_runs`);
* **run** seeds (:func:`run_seeds`): each recipe at seeds ``first .. first+n-1`` (the
  recipe with ``--set seed=k``) into ``<out>/<recipe name>/seed<k>``. A run already there
  is reused when its config is the one asked for (finished: read; interrupted: resumed),
  so an interrupted comparison continues where it stopped.

:func:`compare` then summarises each group (:func:`snnx.pipeline.stats.summarise`) and
:func:`write_outputs` writes ``compare.csv``, ``compare.json`` and ``compare.png`` (accuracy
and cost with 95 % CI error bars).

Example:
    >>> rows = compare([{"rule": "dfa", "seed": 0, "run_dir": "a", "accuracy": {"adapted": 0.8},
    ...                  "cost": {"energy_j": 1e-6}, "config": {"adapt.rule": "dfa"}},
    ...                 {"rule": "dfa", "seed": 1, "run_dir": "b", "accuracy": {"adapted": 0.9},
    ...                  "cost": {"energy_j": 2e-6}, "config": {"adapt.rule": "dfa"}}])
    >>> rows[0]["label"], rows[0]["n"], round(rows[0]["stats"]["adapted"]["mean"], 2)
    ('all runs', 2, 0.85)
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from snnx.errors import SnnxError
from snnx.pipeline import stats as st

log = logging.getLogger(__name__)

REPORT = "report.json"


def read_report(run_dir: str | os.PathLike) -> dict:
    """report.json of a finished run.

    Raises:
        SnnxError: ``compare: <dir> ...`` when the folder holds no readable report.
    """
    path = Path(run_dir) / REPORT
    if not path.is_file():
        raise SnnxError(f"compare: {run_dir} has no report.json (not a finished snnx run)")
    try:
        rep = json.loads(path.read_text(encoding="utf-8"))
        rep["accuracy"], rep["cost"]  # noqa: B018 - required keys
    except (OSError, ValueError, KeyError, TypeError):
        raise SnnxError(f"compare: {path} is not a readable snnx report") from None
    return rep


def run_config(run_dir: str | os.PathLike, report: Mapping[str, Any]) -> dict:
    """The flat resolved config of a run (:func:`snnx.pipeline.stats.flatten_config`); from
    the report's recipe, rule, hardware and seed when config.resolved.yaml is missing."""
    from snnx.config.yamlio import read_yaml
    from snnx.pipeline.folder import CONFIG_FILE

    path = Path(run_dir) / CONFIG_FILE
    if path.is_file():
        try:
            return st.flatten_config(read_yaml(path, "compare"))
        except SnnxError as e:
            log.warning("%s; the run is grouped by its report", e)
    return {"name": report.get("recipe"), "adapt.rule": report.get("rule"),
            "hw.preset": report.get("hw"), "seed": report.get("seed")}


def load(run_dir: str | os.PathLike) -> dict:
    """A run's report with its flat config under ``config``."""
    rep = read_report(run_dir)
    rep["config"] = run_config(run_dir, rep)
    rep["run_dir"] = str(run_dir)
    return rep


def collect(paths: Sequence[str | os.PathLike]) -> list[dict]:
    """The finished runs named by ``paths``: a run folder (holding report.json) is taken as
    it is; any other folder is searched for run folders (reports of ``snnx train`` and of
    unfinished runs are skipped).

    Raises:
        SnnxError: a path that does not exist or holds no finished run.
    """
    runs: list[dict] = []
    for p in map(Path, paths):
        if (p / REPORT).is_file():
            runs.append(load(p))
            continue
        if not p.is_dir():
            raise SnnxError(f"compare: {p} has no report.json (not a finished snnx run)")
        found = []
        for rep in sorted(p.rglob(REPORT)):
            try:
                found.append(load(rep.parent))
            except SnnxError:
                log.warning("compare: skipped %s (not a report of snnx adapt)", rep)
        if not found:
            raise SnnxError(f"compare: {p} holds no finished snnx run (no report.json)")
        runs += found
    return runs


def compare(runs: Sequence[Mapping[str, Any]], labels: Sequence[str] | None = None
            ) -> list[dict]:
    """Group ``runs`` (:func:`load`-ed reports) and summarise each group over its seeds.

    Args:
        runs: reports with their flat ``config``.
        labels: one label per run to group by instead of the differing config keys
            (``run_seeds`` labels by recipe name).

    Returns:
        One row per group: ``label``, ``n`` (runs), ``seeds``, ``runs`` (folders),
        ``config`` (the differing keys and their values) and ``stats`` (metric ->
        :func:`~snnx.pipeline.stats.mean_ci`). A seed found twice in a group counts once
        (a repeated seed is not an independent sample; a warning says so).
    """
    configs = [r["config"] for r in runs]
    if labels is None:
        groups = st.group_runs(configs)
        names = st.group_labels(configs, groups)
    else:
        order: dict[str, list[int]] = {}
        for i, lab in enumerate(labels):
            order.setdefault(lab, []).append(i)
        groups, names = list(order.values()), list(order)
    keys = st.differing_keys(configs)
    rows = []
    for name, idx in zip(names, groups):
        kept, seen = [], set()
        for i in idx:
            seed = runs[i].get("seed", runs[i]["config"].get("seed"))
            if seed in seen:
                log.warning("compare: %s repeats seed %s of group %s; counted once",
                            runs[i]["run_dir"], seed, name)
                continue
            seen.add(seed)
            kept.append(runs[i])
        rows.append({"label": name, "n": len(kept), "seeds": [r.get("seed") for r in kept],
                     "runs": [r["run_dir"] for r in kept],
                     "config": {k: kept[0]["config"].get(k) for k in keys},
                     "stats": st.summarise(kept)})
    return rows


def write_outputs(rows: Sequence[Mapping[str, Any]], out: Path, *, stem: str = "compare",
                  extra: Mapping[str, Any] | None = None, figure: bool = True) -> list[Path]:
    """``<stem>.txt`` (the printed tables), ``<stem>.csv``, ``<stem>.json`` and (``figure``)
    ``<stem>.png`` with error bars in folder ``out``."""
    from snnx.monitor.figures import plot_group_comparison
    from snnx.pipeline.report import write_json

    out.mkdir(parents=True, exist_ok=True)
    head, body = st.csv_rows(rows)
    with open(out / f"{stem}.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(head)
        writer.writerows(body)
    data = {"ci_method": st.CI_METHOD, "groups": [_jsonable(r) for r in rows],
            **dict(extra or {})}
    write_json(out / f"{stem}.json", data)
    (out / f"{stem}.txt").write_text(st.stats_tables(rows) + "\n", encoding="utf-8")
    files = [out / f"{stem}.txt", out / f"{stem}.csv", out / f"{stem}.json"]
    if figure:
        files.append(plot_group_comparison(rows, out / f"{stem}.png"))
    return files


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


# ------------------------------------------------------------------------------ running

def seed_dir(out: Path, label: str, seed: int) -> Path:
    """Folder of one run of a comparison: ``<out>/<label>/seed<k>``."""
    return out / label / f"seed{seed}"


@contextlib.contextmanager
def quiet(verbose: bool) -> Iterator[None]:
    """Lower the pipeline's log level to warnings while many runs go by (unless verbose)."""
    logger = logging.getLogger("snnx.pipeline")
    level = logger.level
    if not verbose:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _same_config(run_dir: Path, recipe: Any) -> None:
    from snnx.pipeline.folder import absolute_paths, read_run

    have = st.flatten_config(read_run(run_dir, "compare")[0].to_dict())
    want = st.flatten_config(absolute_paths(recipe).to_dict())
    diff = next((k for k in sorted(set(have) | set(want)) if have.get(k) != want.get(k)), None)
    if diff is not None:
        raise SnnxError(f"compare: {run_dir} holds a run of another config ({diff}: "
                        f"{have.get(diff, '-')!r} there, {want.get(diff, '-')!r} asked); "
                        f"remove it or choose another --out")


def run_one(recipe: Any, run_dir: Path) -> dict | None:
    """Run ``recipe`` into ``run_dir``, resume it there, or read it when it has finished.

    Returns:
        The :func:`load`-ed report, or None when another process is writing the folder.

    Raises:
        SnnxError: the folder holds a run of another config, or the run fails.
    """
    from snnx.pipeline.folder import CONFIG_FILE, LOCK_FILE, alive, read_pid
    from snnx.pipeline.run import Run

    if (run_dir / CONFIG_FILE).is_file():
        _same_config(run_dir, recipe)
        if (run_dir / REPORT).is_file():
            return load(run_dir)
        pid = read_pid(run_dir / LOCK_FILE)
        if pid and pid != os.getpid() and alive(pid):
            log.warning("compare: %s is being written by process %d; left out", run_dir, pid)
            return None
        job = Run.resume(run_dir)
    else:
        job = Run(recipe, out=run_dir)
    job.setup()
    job.run()
    return load(run_dir)


def run_seeds(recipes: Mapping[str, Any], seeds: Sequence[int], out: Path, *,
              sets: Mapping[str, Sequence[str]] | None = None, verbose: bool = False,
              progress: Any = print) -> tuple[list[dict], list[str]]:
    """Each recipe at each seed into ``<out>/<label>/seed<k>`` (reused when there).

    Args:
        recipes: label -> validated recipe.
        seeds: the seeds (``--set seed=k`` on each recipe).
        out: the comparison folder.
        sets: label -> extra overrides of that recipe (e.g. its best learning rate).
        verbose: keep the pipeline's info logs.
        progress: called with one line per run.

    Returns:
        (reports, labels): the loaded reports and the label of each.
    """
    reports, labels = [], []
    total, i = len(recipes) * len(seeds), 0
    with quiet(verbose):
        for label, recipe in recipes.items():
            for seed in seeds:
                i += 1
                r = recipe.replace(f"seed={seed}", *(sets or {}).get(label, ()))
                where = seed_dir(out, label, seed)
                t0 = time.perf_counter()
                done = (where / REPORT).is_file()
                rep = run_one(r, where)
                if rep is None:
                    continue
                acc = rep["accuracy"]
                progress(f"[{i}/{total}] {label} seed {seed}: adapted "
                         f"{100 * acc.get('adapted', float('nan')):.1f} %, deployed "
                         f"{100 * acc.get('deployed', float('nan')):.1f} %"
                         + (" (reused)" if done else f" ({time.perf_counter() - t0:.0f} s)"))
                reports.append(rep)
                labels.append(label)
    return reports, labels
