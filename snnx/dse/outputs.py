"""What a search writes into its study folder, computed from the storage alone.

* ``pareto.csv`` / ``pareto.json`` -- the Pareto set of the full-fidelity trials: trial
  number, parameters (as recipe values), objective values, CPU seconds, run folder, recipe;
  the JSON adds the study, the normalisation bounds, the reference point and the hypervolume;
* ``pareto.png`` -- the first objective against each other one: cheap trials, full trials,
  the Pareto set;
* ``hypervolume.csv`` / ``hypervolume.png`` -- hypervolume of the full-fidelity front
  (normalised objectives, fixed reference point, :mod:`snnx.dse.pareto`) against the CPU
  seconds spent by all trials of both fidelities, in the order they finished;
* ``best/trial_NNNN.yaml`` -- every Pareto-optimal configuration as a ready-to-run recipe
  (``snnx adapt --recipe runs/dse/<study>/best/trial_0007.yaml``).

Because everything comes from the storage, any machine sharing a PostgreSQL study writes
the same files (``snnx dse --report-only``).
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from snnx.config.yamlio import dump
from snnx.dse.pareto import REFERENCE, bounds_of, hypervolume_curve, non_dominated
from snnx.dse.problem import Problem
from snnx.dse.study import Studies, TrialRecord, counts, records, safe_url


def _atomic(path: Path, text: str) -> Path:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def recipe_values(problem: Problem, params: dict) -> dict[str, Any]:
    """Sampled Optuna values -> the values the recipe gets, by parameter name."""
    return {name: p.decode(params[name]) for name, p in problem.config.space.items()
            if name in params}


def pareto_set(problem: Problem, recs: list[TrialRecord]) -> list[TrialRecord]:
    """The non-dominated full-fidelity trials (one per configuration), best first by the
    first objective."""
    full = [r for r in recs if r.fidelity == "full"]
    if not full:
        return []
    sign = np.array(problem.signs)
    mask = non_dominated(sign * np.array([r.values for r in full]))
    seen, out = set(), []
    for r in sorted((r for r, keep in zip(full, mask) if keep),
                    key=lambda r: (sign[0] * r.values[0], r.number)):
        key = json.dumps(r.params, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def write_best(problem: Problem, front: list[TrialRecord], out: Path) -> dict[int, Path]:
    """``best/trial_NNNN.yaml`` for each Pareto trial (older files of the folder removed)."""
    folder = out / "best"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("trial_*.yaml"):
        old.unlink(missing_ok=True)  # another machine may clear the folder too
    paths = {}
    for r in front:
        recipe = problem.trial_recipe(r.params, "full")
        data = {**recipe.to_dict(), "name": f"{problem.study}_trial{r.number:04d}",
                "description": f"Pareto-optimal trial {r.number} of snnx dse study "
                               f"{problem.study}"}
        got = ", ".join(f"{f} {v:.4g}" for f, v in zip(problem.fields, r.values))
        header = (f"# Pareto-optimal configuration of `snnx dse` study {problem.study!r}, "
                  f"trial {r.number} (full fidelity):\n#   {got}\n#   searched: "
                  f"{json.dumps(recipe_values(problem, r.params), default=str)}\n"
                  f"# Run it: snnx adapt --recipe {folder / f'trial_{r.number:04d}.yaml'}\n")
        paths[r.number] = _atomic(folder / f"trial_{r.number:04d}.yaml", dump(data, header))
    return paths


def write_outputs(studies: Studies, out: str | os.PathLike) -> dict[str, Any]:
    """Write every output file (module docstring); return the summary (pareto.json)."""
    problem, out = studies.problem, Path(out)
    out.mkdir(parents=True, exist_ok=True)
    recs = records(studies)
    fields, directions = problem.fields, problem.directions
    values = np.array([r.values for r in recs], dtype=float).reshape(-1, len(fields))
    lo, hi = bounds_of(values, [o.bounds for o in problem.config.objectives.values()])
    compute = np.cumsum([r.compute_s for r in recs])
    curve = hypervolume_curve(values, np.array([r.fidelity == "full" for r in recs]),
                              directions, lo, hi)
    front = pareto_set(problem, recs)
    best = write_best(problem, front, out)
    rows = [{"trial": r.number,
             **{k: v for k, v in recipe_values(problem, r.params).items()},
             **dict(zip(fields, r.values)), "compute_s": round(r.compute_s, 3),
             "cheap_trial": r.cheap_trial, "run_dir": r.run_dir,
             "recipe": str(best[r.number])} for r in front]
    with open(out / ".pareto.csv.tmp", "w", newline="", encoding="utf-8") as fh:
        names = ["trial", *problem.config.space, *fields, "compute_s", "cheap_trial",
                 "run_dir", "recipe"]
        writer = csv.DictWriter(fh, fieldnames=names)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (dump(v).strip() if isinstance(v, (list, dict)) else v)
                             for k, v in row.items()})
    os.replace(out / ".pareto.csv.tmp", out / "pareto.csv")
    n = counts(studies)
    summary = {
        "study": problem.study, "storage": safe_url(studies.url),
        "sampler": problem.config.sampler, "multi_fidelity": problem.multi_fidelity,
        "objectives": dict(zip(fields, directions)),
        "bounds": {f: [float(a), float(b)] for f, a, b in zip(fields, lo, hi)},
        "reference": REFERENCE,
        "hypervolume": float(curve[-1]) if len(curve) else 0.0,
        "compute_s": float(compute[-1]) if len(compute) else 0.0,
        "trials": n, "pareto": rows,
    }
    _atomic(out / "pareto.json", json.dumps(summary, indent=2, default=str) + "\n")
    lines = ["compute_s,hypervolume,fidelity,trial"] + [
        f"{c:.3f},{h:.6f},{r.fidelity},{r.number}" for c, h, r in zip(compute, curve, recs)]
    _atomic(out / "hypervolume.csv", "\n".join(lines) + "\n")
    if recs:
        from snnx.dse.plots import plot_hypervolume, plot_pareto

        plot_pareto(problem, recs, front, out / "pareto.png")
        plot_hypervolume({problem.study: (compute, curve)}, out / "hypervolume.png",
                         title=f"{problem.study}: hypervolume of the full-fidelity front")
    return summary


def summary_lines(summary: dict, out: Path) -> list[str]:
    """What ``snnx dse`` prints at the end."""
    t = summary["trials"]
    done = ", ".join(f"{fid} {tally.get('COMPLETE', 0)}" for fid, tally in t.items())
    other = {f"{fid} {state.lower()}": k for fid, tally in t.items()
             for state, k in tally.items() if state != "COMPLETE"}
    lines = [f"study      {summary['study']} ({summary['sampler']}"
             f"{', multi-fidelity' if summary['multi_fidelity'] else ''}) in "
             f"{summary['storage']}",
             f"trials     complete: {done}"
             + (f"  |  {', '.join(f'{k}: {v}' for k, v in other.items())}" if other else ""),
             f"compute    {summary['compute_s']:.1f} s CPU  |  hypervolume "
             f"{summary['hypervolume']:.4f} (normalised, reference {summary['reference']})",
             f"pareto     {len(summary['pareto'])} configurations -> {out / 'pareto.csv'}, "
             f"{out / 'best'}/"]
    for row in summary["pareto"][:8]:
        got = ", ".join(f"{f.rsplit('.', 1)[-1]} {row[f]:.4g}" for f in summary["objectives"])
        lines.append(f"  trial {row['trial']:>4}: {got}")
    return lines
