"""Hardware-aware pretraining over seeds: QAT (har_qat3) and ReSNA noise-aware training
(digits_resna), plain vs aware model on the same hardware (a script, not a test).

Each seed is one full ``snnx adapt`` run of the recipe (in this process, no figures or logs);
its report.json ``hardware_aware`` block holds the plain model (trained as usual) and the
aware one (the same model after ``pretrain.aware_epochs`` of QAT / noise-aware training),
both deployed on the same hardware with the same seed. Printed per seed and as mean with a
95 % confidence interval (Student t over seeds):

* ``deployed`` target accuracy, plain and aware, and their difference (ReSNA's "+2.57 %");
* the relative error increase on the held-out source windows of the deployed model over the
  plain software model (the ASR paper's "+25 % relative at 3 bits").

The published figures are printed beside ours; they come from other models and data sets
(ResNet20 / CIFAR-10, Conformer / TED-LIUM v2) and are trends to compare with, not targets.

Run:
    PYTHONPATH=$PWD python bench/hardware_aware.py --recipe digits_resna --seeds 5
    PYTHONPATH=$PWD python bench/hardware_aware.py --recipe digits_resna --seeds 5 \\
        --set hw.overrides.noise.read.rtn.bandwidth=1e9
    PYTHONPATH=$PWD python bench/hardware_aware.py --recipe har_qat3 --seeds 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch


def ci95(values: list[float]) -> tuple[float, float]:
    """Mean and half-width of the 95 % t interval (0 for one value)."""
    from scipy import stats

    m = statistics.fmean(values)
    if len(values) < 2:
        return m, 0.0
    half = stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / len(values) ** 0.5
    return m, float(half)


def run_seed(recipe: str, seed: int, sets: list[str], folder: Path) -> dict:
    from snnx.pipeline.recipe_files import load_recipe
    from snnx.pipeline.run import Run

    quiet = ["monitor.tensorboard=false", "monitor.figures=false", "monitor.jsonl=false",
             "monitor.checkpoint_every=0", f"seed={seed}"]
    run = Run(load_recipe(recipe, [*sets, *quiet]), out=folder / f"seed{seed}")
    run.setup()
    return run.run()["hardware_aware"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="digits_resna")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            h = run_seed(args.recipe, seed, args.set, Path(tmp))
            rows.append(h)
            rel = h["relative_error_increase"]
            print(f"seed {seed}: deployed plain {100 * h['plain']['deployed']:.1f} %, aware "
                  f"{100 * h['aware']['deployed']:.1f} % (gain {100 * h['deployed_gain']:+.2f}"
                  f" points); relative error increase vs plain software: plain "
                  f"{_pct(rel['plain'])}, aware {_pct(rel['aware'])}")
    print(f"\n{args.recipe} {' '.join(args.set)}: {args.seeds} seeds, mean +- 95 % CI")
    for label, values in (
            ("deployed accuracy, plain model (%)", [100 * h["plain"]["deployed"] for h in rows]),
            ("deployed accuracy, aware model (%)", [100 * h["aware"]["deployed"] for h in rows]),
            ("gain of the aware model (points)", [100 * h["deployed_gain"] for h in rows]),
            ("rel. error increase, plain (%)", _some(rows, "plain")),
            ("rel. error increase, aware (%)", _some(rows, "aware"))):
        if values:
            m, half = ci95(values)
            print(f"  {label:38} {m:7.2f} +- {half:.2f}")
    ref = rows[0]["reference"]
    for key, r in ref.items():
        fig = (f"+{100 * r['accuracy_gain']:.2f} points" if key == "noise_aware"
               else f"+{100 * r['relative_error_increase']:.0f} % relative error")
        print(f"  published ({r['source']}): {fig}")


def _some(rows: list[dict], key: str) -> list[float]:
    return [100 * h["relative_error_increase"][key] for h in rows
            if h["relative_error_increase"][key] is not None]


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:+.0f} %"


if __name__ == "__main__":
    main()
