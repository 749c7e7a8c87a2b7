"""Run every shipped recipe, or compare the report.json figures of two sets of runs.

Used to check that a refactoring changes no number: run the recipes at two commits
(same seed, same thread count) and compare.

    python bench/recipe_reports.py run OUT_DIR [--threads 1] [--recipes har_dfa ...]
    python bench/recipe_reports.py compare BEFORE_DIR AFTER_DIR

``compare`` prints, per recipe and figure block (accuracy, cost, inference, rule_setup,
stream, curves), whether every number is bit-identical, else the largest relative
difference, and exits 1 when anything differs.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

BLOCKS = ("accuracy", "cost", "inference", "rule_setup", "stream", "curves")


def _numbers(tree, prefix=""):
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _numbers(v, f"{prefix}.{k}" if prefix else k)
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            yield from _numbers(v, f"{prefix}[{i}]")
    elif isinstance(tree, (int, float)) and not isinstance(tree, bool):
        yield prefix, float(tree)


def compare(before: Path, after: Path) -> int:
    bad = 0
    for rep_b in sorted(before.glob("*/report.json")):
        name = rep_b.parent.name
        rep_a = after / name / "report.json"
        if not rep_a.is_file():
            print(f"{name:<14} missing in {after}")
            bad += 1
            continue
        a, b = json.loads(rep_a.read_text()), json.loads(rep_b.read_text())
        for block in BLOCKS:
            xb, xa = dict(_numbers(b.get(block, {}))), dict(_numbers(a.get(block, {})))
            keys = set(xb) | set(xa)
            missing = sorted(k for k in keys if (k in xb) != (k in xa))
            worst = max((abs(xa[k] - xb[k]) / max(abs(xb[k]), 1e-300)
                         for k in keys if k in xa and k in xb
                         and not (math.isnan(xa[k]) and math.isnan(xb[k]))), default=0.0)
            same = not missing and all(xa[k] == xb[k] for k in keys)
            status = "identical" if same else (f"missing {missing[:3]}" if missing else
                                               f"max rel. diff {worst:.2e}")
            bad += not same
            print(f"{name:<14} {block:<11} {len(keys):>4} numbers  {status}")
    return 1 if bad else 0


def run(out: Path, threads: int, names: list[str] | None) -> int:
    from snnx.pipeline.recipe_files import list_recipes

    for name in names or list_recipes():
        cmd = [sys.executable, "-m", "snnx", "-q", "adapt", "--recipe", name,
               "--threads", str(threads), "--out", str(out / name)]
        print("$", " ".join(cmd[2:]), flush=True)
        code = subprocess.call(cmd)
        if code:
            return code
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("out", type=Path)
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--recipes", nargs="*")
    c = sub.add_parser("compare")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    args = p.parse_args()
    if args.cmd == "run":
        return run(args.out, args.threads, args.recipes)
    return compare(args.before, args.after)


if __name__ == "__main__":
    sys.exit(main())
