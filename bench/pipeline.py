"""Where ``snnx adapt`` spends its time: phases as shares of the whole run, and wall time
against another checkout.

Run:  python bench/pipeline.py [--recipe har_dfa] [--threads 1] [--set KEY=VALUE ...]
      python bench/pipeline.py --against /path/to/old/checkout [--repeats 3] [--seeds 0 1 2]

The first form runs the recipe in this process once and prints each phase's seconds and its
share of the whole (interpreter start excluded): imports, set-up (data, network, rule),
pretraining, deployment, the on-line loop (of which checkpoints), evaluation, the report (of
which figures). The second times whole ``snnx adapt`` commands of this checkout and of
another one (alternating, ``--repeats`` each, same recipe and threads) and prints the
median wall and CPU seconds and their ratio: the before/after figure of issue 12; with
``--seeds`` it also prints both checkouts' report.json accuracies per seed and their spread
over seeds, the noise against which "same accuracies" is judged.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def phases(recipe: str, threads: int, sets: list[str]) -> None:
    t_start = time.perf_counter()
    import torch  # noqa: F401  (counted as imports)

    from snnx import checkpoint
    from snnx.pipeline import report as rpt
    from snnx.pipeline import run as run_mod
    from snnx.pipeline.recipe_files import load_recipe

    t_imports = time.perf_counter() - t_start
    torch.set_num_threads(threads)
    spent = {"checkpoints": 0.0, "figures": 0.0}

    def timed(key, fn):
        def wrapper(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[key] += time.perf_counter() - t0
        return wrapper

    checkpoint.save = timed("checkpoints", checkpoint.save)
    run_mod.write_figures = timed("figures", rpt.write_figures)
    rows = [("imports (torch, snnx)", t_imports)]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        job = run_mod.Run(load_recipe(recipe, sets), out=Path(tmp) / "run")
        job.setup()
        rows.append(("set-up: data, network, rule", time.perf_counter() - t0))
        with job:
            for name, phase in (("pretraining (software)", job.pretrain),
                                ("deployment (programming, transforms)", job.deploy),
                                ("on-line loop", job.adapt), ("evaluation", job.evaluate),
                                ("report", job.report)):
                before = dict(spent)
                t0 = time.perf_counter()
                phase()
                rows.append((name, time.perf_counter() - t0))
                if name == "on-line loop":
                    rows.append(("  of which checkpoints",
                                 spent["checkpoints"] - before["checkpoints"]))
                if name == "report":
                    rows.append(("  of which figures", spent["figures"] - before["figures"]))
    total = sum(t for name, t in rows if not name.startswith("  "))
    print(f"snnx adapt --recipe {recipe} --threads {threads} {' '.join(sets)}".rstrip())
    print(f"{'phase':<40} {'seconds':>8} {'share':>7}")
    for name, t in rows:
        print(f"{name:<40} {t:>8.2f} {t / total:>7.1%}")
    print(f"{'total (interpreter start excluded)':<40} {total:>8.2f}")


def _time_cli(cwd: Path, recipe: str, threads: int, sets: list[str]) -> tuple[float, float, dict]:
    """(wall, CPU) seconds of one ``snnx adapt`` in ``cwd``'s checkout, and the accuracy
    block of its report.json."""
    with tempfile.TemporaryDirectory() as tmp:
        module = "snnx" if (cwd / "snnx" / "__main__.py").is_file() else "snnx.cli"
        cmd = [sys.executable, "-m", module, "-q", "adapt", "--recipe", recipe,
               "--threads", str(threads), "--out", str(Path(tmp) / "run")]
        for s in sets:
            cmd += ["--set", s]
        env = {**os.environ, "PYTHONPATH": str(cwd)}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=tmp, env=env, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        acc = json.loads((Path(tmp) / "run" / "report.json").read_text())["accuracy"]
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return wall, cpu, acc


ACCURACIES = ("software", "deployed", "adapted")


def _acc_line(label: str, accs: list[dict]) -> str:
    cells = []
    for key in ACCURACIES:
        vals = [100 * a[key] for a in accs]
        sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
        cells.append(f"{key} {statistics.mean(vals):5.1f} +- {sd:4.1f}")
    return f"  {label}: " + ", ".join(cells) + f"  (% over {len(accs)} seeds)"


def against(old: Path, recipe: str, threads: int, repeats: int, sets: list[str],
            old_sets: list[str], seeds: list[int]) -> None:
    """Alternating whole runs of both checkouts; the times are medians over all runs (every
    seed, every repeat), the accuracies come from each seed's first run (a run is
    deterministic for its seed and threads) and their spread over seeds is the noise a seed
    change brings, against which old and new accuracies are compared."""
    res: dict[str, list] = {"old": [], "new": []}
    acc: dict[str, dict[int, dict]] = {"old": {}, "new": {}}
    for _ in range(repeats):
        for seed in seeds:
            for key, cwd, extra in (("old", old, old_sets), ("new", ROOT, sets)):
                wall, cpu, a = _time_cli(cwd, recipe, threads, [f"seed={seed}", *extra])
                res[key].append((wall, cpu))
                acc[key].setdefault(seed, a)
    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
           for k, v in res.items()}
    print(f"snnx adapt --recipe {recipe} --threads {threads}: median of {repeats} x "
          f"{len(seeds)} alternating runs (seeds {seeds}), load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"  old ({old}): {med['old'][0]:.2f} s wall, {med['old'][1]:.2f} s CPU"
          f"{'  with ' + ' '.join(old_sets) if old_sets else ''}")
    print(f"  new ({ROOT}): {med['new'][0]:.2f} s wall, {med['new'][1]:.2f} s CPU"
          f"{'  with ' + ' '.join(sets) if sets else ''}")
    print(f"  new / old: {med['new'][0] / med['old'][0]:.2f} wall, "
          f"{med['new'][1] / med['old'][1]:.2f} CPU")
    print("report.json accuracies (mean +- std over seeds):")
    print(_acc_line("old", [acc["old"][s] for s in seeds]))
    print(_acc_line("new", [acc["new"][s] for s in seeds]))
    for s in seeds:
        print(f"    seed {s}: " + "  ".join(
            f"{k} {100 * acc['old'][s][k]:.1f} -> {100 * acc['new'][s][k]:.1f}"
            for k in ACCURACIES))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", default="har_dfa")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override for this checkout's runs")
    p.add_argument("--against", type=Path, metavar="CHECKOUT",
                   help="time whole runs of this checkout against another checkout")
    p.add_argument("--old-set", action="append", default=[], metavar="KEY=VALUE",
                   help="override for the other checkout's runs")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seeds", type=int, nargs="+", default=[0],
                   help="--against: run every seed (recipe key seed) on both checkouts")
    args = p.parse_args()
    if args.against:
        against(args.against, args.recipe, args.threads, args.repeats, args.set, args.old_set,
                args.seeds)
    else:
        phases(args.recipe, args.threads, args.set)


if __name__ == "__main__":
    main()
