"""``snnx compare``: accuracy, energy, latency and area of finished runs side by side."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

HELP = "accuracy, energy, latency and area of finished runs side by side"


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="finished run folders")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="folder for compare.txt and compare.png (default runs/compare/<time>/;"
                        " a .png path names the figure, the table goes beside it)")


def run(args: argparse.Namespace) -> int:
    from snnx.monitor.figures import plot_rule_comparison
    from snnx.pipeline.compare import compare_rows, compare_table, read_report

    from snnx.pipeline.folder import check_writable

    rows = compare_rows([read_report(d) for d in args.runs])
    out = Path(args.out or Path("runs") / "compare" / time.strftime("%Y%m%d-%H%M%S"))
    if out.suffix.lower() != ".png":
        out = out / "compare.png"
    check_writable(out.parent, "--out")
    table = compare_table(rows)
    print(table)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".txt").write_text(table + "\n", encoding="utf-8")
    plot_rule_comparison(rows, out)
    print(f"table: {out.with_suffix('.txt')}; figure: {out}")
    return 0
