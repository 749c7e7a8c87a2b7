"""The rules on the convolutional recipes: the table of docs/rules.md ("Convolutional networks").

Runs ``snnx adapt`` on ``digits_cnn_dfa`` and ``har_cnn_dfa`` with DFA (per-element
feedback to the conv maps, and per-channel feedback), BP and log-domain SGD, at one seed
(finished run folders under ``--out`` are reused), and prints the accuracy on the held-out
target data (software -> deployed -> adapted) with energy and latency per on-chip step and
the chip area from each run's report.json.

Usage:
    python bench/cnn_rules.py                     # seed 0, runs/cnn_rules
    python bench/cnn_rules.py --seed 1 --out /tmp/cnn
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

RECIPES = ("digits_cnn_dfa", "har_cnn_dfa")
VARIANTS = (("DFA (maps)", ["adapt.rule=dfa"]),
            ("DFA (channels)", ["adapt.rule=dfa", "adapt.dfa.conv_feedback=channels"]),
            ("BP", ["adapt.rule=bp"]),
            ("log-SGD", ["adapt.rule=logsgd"]))


def si(x: float, unit: str) -> str:
    for f, p in ((1e-9, "n"), (1e-6, "µ"), (1e-3, "m"), (1.0, "")):
        if abs(x) < f * 1000:
            return f"{x / f:.3g} {p}{unit}"
    return f"{x:.3g} {unit}"


def run(out: Path, recipe: str, name: str, sets: list[str], seed: int) -> dict:
    folder = out / f"{recipe}-{name.replace(' ', '').replace('(', '-').replace(')', '')}"
    report = folder / "report.json"
    if not report.exists():
        cmd = [sys.executable, "-m", "snnx", "-q", "adapt", "--recipe", recipe, "--out",
               str(folder), "--set", f"seed={seed}"]
        for s in sets:
            cmd += ["--set", s]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return json.loads(report.read_text())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("runs/cnn_rules"))
    a = ap.parse_args(argv)
    print("| recipe | rule | target: software → deployed → adapted | energy / step | "
          "latency / step | area |")
    print("|---|---|---|---|---|---|")
    for recipe in RECIPES:
        for name, sets in VARIANTS:
            r = run(a.out, recipe, name, sets, a.seed)
            acc, cost = r["accuracy"], r["cost"]
            steps = max(cost["steps"], 1)
            print(f"| `{recipe}` | {name} | {100 * acc['software_target']:.1f} → "
                  f"{100 * acc['deployed']:.1f} → **{100 * acc['adapted']:.1f} %** | "
                  f"{si(cost['energy_j'] / steps, 'J')} | {si(cost['latency_s'] / steps, 's')} "
                  f"| {cost['area_m2'] * 1e6:.3g} mm² |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
