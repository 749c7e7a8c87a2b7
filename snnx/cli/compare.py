"""``snnx compare``: accuracy, energy, latency and area of finished runs side by side."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "accuracy, energy, latency and area of finished runs side by side"


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="finished run folders")
    p.add_argument("--out", metavar="PATH", default="compare.png",
                   help="figure file, or a folder for compare.png (default ./compare.png)")


def run(args: argparse.Namespace) -> int:
    from snnx.monitor.figures import plot_rule_comparison
    from snnx.pipeline.compare import compare_rows, compare_table, read_report

    rows = compare_rows([read_report(d) for d in args.runs])
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        out = out / "compare.png"
    print(compare_table(rows))
    plot_rule_comparison(rows, out)
    print(f"figure: {out}")
    return 0
