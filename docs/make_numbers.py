"""Write the numbers quoted in README.md and docs/pipeline.md from real runs.

    python docs/make_numbers.py           # run, then rewrite the marked blocks
    python docs/make_numbers.py --check   # run, then exit 1 if a committed block differs

A block sits between ``<!-- numbers:NAME -->`` and ``<!-- /numbers:NAME -->``; everything
between the markers is replaced by what :func:`render` makes of the runs:

* ``summary`` / ``summary_run`` -- the lines ``snnx adapt --recipe recipes/har_dfa.yaml``
  prints at the end (without / with its ``run`` line);
* ``compare`` -- the table of ``snnx compare`` over the shipped ``har_dfa``, ``har_bp`` and
  ``har_logsgd`` recipes;
* ``raw`` -- what the README's ``load_run`` script prints on the ``har_dfa`` run (raw sensor
  samples through ``Deployed.adapter`` against the run's own held-out figure).

The runs use the shipped recipes unchanged (TensorBoard and figures off, which changes no
number) on one torch thread, as ``snnx adapt`` does by default, so they are bit-identical to
what a user's first command prints on the same torch build; ``har_bp`` and ``har_logsgd``
start from ``har_dfa``'s pretrained network (their recipes differ from it only in the rule,
so their own pretraining trains the same network; their standalone runs print the same
lines), at a third of the cost. On another CPU or torch
build the last digit may differ; ``tests/test_docs_numbers.py`` checks the committed blocks
against this script on the test machine.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = ("README.md", "docs/pipeline.md")
RULES = ("dfa", "bp", "logsgd")
OFF = ("monitor.tensorboard=false", "monitor.figures=false")


def _runs(tmp: Path) -> dict:
    import torch

    from snnx.pipeline.recipe_files import load_recipe
    from snnx.pipeline.run import Run

    torch.set_num_threads(1)
    reports = {}
    for rule in RULES:
        sets = list(OFF)
        if rule != "dfa":
            sets.append(f"pretrain.checkpoint={tmp / 'dfa' / 'checkpoints' / 'pretrained.h5'}")
        run = Run(load_recipe(ROOT / "recipes" / f"har_{rule}.yaml", sets), out=tmp / rule)
        run.setup()
        reports[rule] = run.run()
    return reports


def _raw_sample_figure(run_dir: Path) -> str:
    """The README script's first line of output, computed the same way."""
    import numpy as np

    import snnx

    run = snnx.load_run(run_dir)
    X, y = run.windows("target_test")
    ad = run.adapter()

    def classify(w):
        ad.reset()
        return [ad.step(s) for s in w][-1]

    acc = np.mean([classify(w) == c for w, c in zip(X, y)])
    return (f"raw samples: {100 * acc:.1f} %, the run's own figure: "
            f"{100 * run.report['accuracy']['adapted']:.1f} %")


def render(tmp: Path) -> dict[str, str]:
    """Every block's text from fresh runs in ``tmp``."""
    from snnx.pipeline import compare as cmp
    from snnx.pipeline.report import summary_lines
    from snnx.pipeline.stats import stats_tables

    reports = _runs(tmp)
    lines = summary_lines(reports["dfa"])[1:]
    rows = cmp.compare([cmp.load(tmp / r) for r in RULES], labels=list(RULES))
    table = stats_tables(rows)
    raw = _raw_sample_figure(tmp / "dfa")
    return {"summary": "```\n" + "\n".join(lines) + "\n```",
            "summary_run": "```\nrun        runs/har_dfa/20260101-120000\n" +
                           "\n".join(lines) + "\n```",
            "compare": "```\n" + table + "\n```",
            "raw": f"`{raw}`"}


def _pattern(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- numbers:{name} -->)(.*?)(<!-- /numbers:{name} -->)", re.S)


def rewrite(text: str, blocks: dict[str, str]) -> str:
    """``text`` with every marked block replaced (a block keeps its layout: inline blocks
    stay inline, fenced blocks keep their own lines)."""
    for name, body in blocks.items():
        def sub(m: re.Match) -> str:
            inner = m.group(2)
            nl = "\n" if inner.startswith("\n") else ""
            return f"{m.group(1)}{nl}{body}{nl}{m.group(3)}"
        text = _pattern(name).sub(sub, text)
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="only compare; exit 1 on a difference")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        blocks = render(Path(tmp))
    stale = []
    for rel in FILES:
        path = ROOT / rel
        old = path.read_text(encoding="utf-8")
        new = rewrite(old, blocks)
        if new != old:
            stale.append(rel)
            if not args.check:
                path.write_text(new, encoding="utf-8")
    for name, body in blocks.items():
        print(f"--- {name}\n{body}")
    if args.check and stale:
        print(f"numbers differ from the runs in: {', '.join(stale)} (python docs/make_numbers.py "
              f"rewrites them)", file=sys.stderr)
        return 1
    print("unchanged" if not stale else f"rewrote {', '.join(stale)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
