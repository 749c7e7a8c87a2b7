"""Multi-fidelity search vs plain NSGA-II at full fidelity, at equal compute.

Runs ``snnx dse`` on a recipe (default ``dse_har``) once per method and seed, each with the
same CPU budget (``dse.budget_s``: trials of both fidelities, counted by their own CPU
time), then compares the hypervolume of each study's full-fidelity front against the
compute it spent. All studies are normalised with the same bounds (the range of every
full-fidelity value over all the studies compared) and the same reference point (1.1), so
the numbers are comparable across methods (METHODS.md section 4).

Methods:
    mf      the recipe as it is: multi-objective TPE screening at the cheap fidelity,
            promotion to full fidelity (snnx.dse.worker);
    nsga2   NSGA-II at full fidelity (the baseline of CF-MESMO's paper);
    motpe   multi-objective TPE at full fidelity (separates the sampler's share of a gain
            from the fidelity's);
    mf-nsga2  NSGA-II screening at the cheap fidelity, with promotion.

Printed per method and seed: trials, CPU used, hypervolume after a quarter, half and all
of the common budget B, and the CPU needed to first reach the final hypervolume of NSGA-II with the
same seed ("saving" = 1 - that / NSGA-II's own). The paper reports 90.91 % less
computation than NSGA-II for CF-MESMO; this prints what we measure, nothing else.

Usage:
    python bench/dse.py run --out /tmp/dse_bench --budget-s 150 --seeds 0 1 2 --jobs 2
    python bench/dse.py compare --out /tmp/dse_bench          # table + comparison.png
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

METHODS = {
    "mf": [],
    "nsga2": ["dse.sampler=nsga2", "dse.fidelity=null"],
    "motpe": ["dse.fidelity=null"],
    "mf-nsga2": ["dse.sampler=nsga2"],
}


def _run(args: argparse.Namespace) -> None:
    jobs = [(m, s) for s in args.seeds for m in args.methods]
    running: list[tuple[subprocess.Popen, str, float]] = []
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    while jobs or running:
        while jobs and len(running) < args.jobs:
            method, seed = jobs.pop(0)
            name = f"{method}-s{seed}"
            sets = [*args.set, f"dse.study={name}", f"dse.seed={seed}",
                    f"dse.budget_s={args.budget_s}", "dse.trials=100000", *METHODS[method]]
            cmd = [sys.executable, "-m", "snnx", "-q", "dse", "--recipe", args.recipe,
                   "--out", str(Path(args.out) / name)]
            for item in sets:
                cmd += ["--set", item]
            log = open(Path(args.out) / f"{name}.log", "w")
            running.append((subprocess.Popen(cmd, env=env, stdout=log, stderr=log), name,
                            time.perf_counter()))
            print(f"started {name}", flush=True)
        time.sleep(2)
        for item in list(running):
            proc, name, t0 = item
            if proc.poll() is not None:
                running.remove(item)
                print(f"finished {name} (exit {proc.returncode}, "
                      f"{time.perf_counter() - t0:.0f} s wall)", flush=True)


def _load(out: Path) -> dict:
    """name -> (problem, records) of every study folder in ``out``."""
    from snnx.dse.problem import load_problem
    from snnx.dse.study import open_storage, open_studies, records
    from snnx.pipeline.recipe_files import load_recipe

    found = {}
    for folder in sorted(p for p in out.iterdir() if (p / "study.db").is_file()):
        name = folder.name
        url = f"sqlite:///{folder / 'study.db'}"
        storage = open_storage(url)
        method = name.rsplit("-s", 1)[0]
        recipe, extra = _meta(out)
        prob = load_problem(load_recipe(recipe, [*extra, f"dse.study={name}",
                                                 *METHODS[method]]))
        found[name] = (prob, records(open_studies(prob, storage, url)))
    return found


def _meta(out: Path) -> tuple[str, list[str]]:
    """The recipe and extra overrides the studies of ``out`` were run with."""
    meta = out / "bench.json"
    if not meta.is_file():
        return "dse_har", []
    data = json.loads(meta.read_text())
    return data["recipe"], list(data.get("set", []))


def _compare(args: argparse.Namespace) -> None:
    from snnx.dse.pareto import hypervolume_curve
    from snnx.dse.plots import plot_hypervolume

    out = Path(args.out)
    studies = _load(out)
    if not studies:
        raise SystemExit(f"no studies in {out}")
    prob = next(iter(studies.values()))[0]
    full = np.array([r.values for _, recs in studies.values() for r in recs
                     if r.fidelity == "full"])
    lo, hi = full.min(0), full.max(0)
    hi = np.where(hi > lo, hi, lo + 1)
    curves, rows = {}, []
    for name, (p, recs) in studies.items():
        x = np.cumsum([r.compute_s for r in recs])
        y = hypervolume_curve(np.array([r.values for r in recs]),
                              np.array([r.fidelity == "full" for r in recs]),
                              p.directions, lo, hi)
        curves[name] = (x, y)
    budget = min(c[0][-1] for c in curves.values())
    for name, (x, y) in curves.items():
        method, seed = name.rsplit("-s", 1)
        recs = studies[name][1]
        ref = curves.get(f"nsga2-s{seed}")
        reach = need = None
        if ref is not None:
            target = ref[1][-1]
            reach = _first(x, y, target)
            need = _first(*ref, target)
        rows.append({"method": method, "seed": int(seed),
                     "cheap": sum(r.fidelity == "cheap" for r in recs),
                     "full": sum(r.fidelity == "full" for r in recs),
                     "compute_s": float(x[-1]), "hv_final": float(y[-1]),
                     "hv_at_quarter": _at(x, y, budget / 4), "hv_at_half": _at(x, y, budget / 2),
                     "hv_at_budget": _at(x, y, budget),
                     "cpu_to_nsga2_final": reach, "nsga2_cpu_to_final": need,
                     "saving": (1 - reach / need) if reach is not None and need else None})
    print(f"objectives {prob.fields} ({prob.directions}); bounds lo {lo.tolist()} hi "
          f"{hi.tolist()}; reference 1.1; common budget {budget:.0f} s CPU")
    head = (f"{'method':9} {'seed':>4} {'cheap':>5} {'full':>4} {'CPU s':>7} {'HV@B/4':>7} "
            f"{'HV@B/2':>7} {'HV@B':>7} {'CPU to NSGA-II final HV':>24} {'saving':>7}")
    print(head)
    for r in sorted(rows, key=lambda r: (r["method"], r["seed"])):
        reach = "not reached" if r["cpu_to_nsga2_final"] is None else \
            f"{r['cpu_to_nsga2_final']:.0f} (NSGA-II {r['nsga2_cpu_to_final']:.0f})"
        save = "-" if r["saving"] is None else f"{100 * r['saving']:.0f} %"
        print(f"{r['method']:9} {r['seed']:>4} {r['cheap']:>5} {r['full']:>4} "
              f"{r['compute_s']:>7.0f} {r['hv_at_quarter']:>7.4f} {r['hv_at_half']:>7.4f} "
              f"{r['hv_at_budget']:>7.4f} "
              f"{reach:>24} {save:>7}")
    for name, (p, recs) in studies.items():
        cheap = {r.number: r for r in recs if r.fidelity == "cheap"}
        if not cheap:
            continue
        from scipy.stats import spearmanr

        pairs = [(cheap[r.cheap_trial].values[0], r.values[0]) for r in recs
                 if r.fidelity == "full" and r.cheap_trial in cheap]
        cost = {f: statistics.mean(r.compute_s for r in recs if r.fidelity == f and
                                   r.compute_s > 0) for f in ("cheap", "full")}
        rho = spearmanr(*zip(*pairs)).statistic if len(pairs) > 2 else float("nan")
        print(f"{name}: a cheap trial costs {cost['cheap'] / cost['full']:.2f} of a full one "
              f"(mean CPU {cost['cheap']:.2f} s vs {cost['full']:.2f} s); {len(pairs)} of "
              f"{len(cheap)} cheap trials promoted; Spearman rank correlation of {p.fields[0]} "
              f"cheap vs full over them: {rho:.2f}")
    print("medians over seeds:")
    for method in sorted({r["method"] for r in rows}):
        mine = [r for r in rows if r["method"] == method]
        savings = [r["saving"] for r in mine if r["saving"] is not None]
        med = {k: statistics.median(r[k] for r in mine)
               for k in ("hv_at_quarter", "hv_at_half", "hv_at_budget")}
        print(f"  {method:9} HV@B/4 {med['hv_at_quarter']:.4f}  HV@B/2 {med['hv_at_half']:.4f}"
              f"  HV@B {med['hv_at_budget']:.4f}"
              f"  CPU {statistics.median(r['compute_s'] for r in mine):.0f} s"
              f"  reached NSGA-II's final HV in {len(savings)}/{len(mine)} seeds"
              + (f", median saving {100 * statistics.median(savings):.0f} %" if savings else ""))
    plot_hypervolume(curves, out / "comparison.png",
                     title="Hypervolume (shared bounds) against CPU spent")
    (out / "comparison.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(f"wrote {out / 'comparison.png'} and {out / 'comparison.json'}")


def _at(x: np.ndarray, y: np.ndarray, c: float) -> float:
    """Hypervolume after ``c`` CPU seconds (0 before the first trial finished)."""
    done = x <= c
    return float(y[done][-1]) if done.any() else 0.0


def _first(x: np.ndarray, y: np.ndarray, target: float) -> float | None:
    hit = np.flatnonzero(y >= target - 1e-12)
    return float(x[hit[0]]) if len(hit) else None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--out", required=True)
    r.add_argument("--recipe", default="dse_har")
    r.add_argument("--budget-s", type=float, default=150.0)
    r.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    r.add_argument("--methods", nargs="+", default=["mf", "nsga2"], choices=list(METHODS))
    r.add_argument("--jobs", type=int, default=2)
    r.add_argument("--set", action="append", default=[], help="extra recipe overrides")
    c = sub.add_parser("compare")
    c.add_argument("--out", required=True)
    args = p.parse_args()
    if args.cmd == "run":
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "bench.json").write_text(json.dumps(
            {"recipe": args.recipe, "budget_s": args.budget_s, "set": args.set}) + "\n")
        _run(args)
    else:
        _compare(args)


if __name__ == "__main__":
    main()
