"""``snnx adapt``: pretrain, deploy on the crossbar, adapt on-line, report (a recipe run).

Every check (recipe, overrides, data file, checkpoints, output folder) runs before any work;
a user error is one line on stderr and exit status 2, and no run folder is left behind.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from snnx.cli.common import add_set, add_threads, set_examples, set_threads
from snnx.errors import SnnxError

HELP = "pretrain, deploy on the crossbar, adapt on-line, report (a recipe run)"

EXAMPLES = """\
  snnx adapt --recipe recipes/har_dfa.yaml
  snnx adapt --recipe har_dfa --set adapt.rule=bp --set hw.overrides.noise.read.constant.sigma=0.02
  snnx adapt --recipe har_dfa --set data.kind=hdf5 --set data.hdf5.path=my_windows.h5
  snnx adapt --recipe har_dfa --print-config
  snnx adapt --resume runs/har_dfa/20250101-120000
"""


def recipe_args(p: argparse.ArgumentParser) -> None:
    """``--recipe``, ``--set``, ``--out``, ``--print-config``, ``--threads``."""
    add_threads(p, "1, or the resumed run's")
    p.add_argument("--recipe", metavar="R", help="recipe YAML path or shipped name (har_dfa)")
    add_set(p)
    p.add_argument("--out", metavar="DIR", help="run folder (default runs/<recipe>/<time>/)")
    p.add_argument("--print-config", action="store_true",
                   help="print the resolved recipe (every key) and exit")


def add_args(p: argparse.ArgumentParser) -> None:
    set_examples(p, EXAMPLES)
    recipe_args(p)
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue an interrupted run from its latest checkpoint")


def new_run(args: argparse.Namespace):
    """A fresh Run from ``--recipe``/``--set``; None after ``--print-config`` printed it."""
    from snnx.cli.common import parse_sets
    from snnx.pipeline.folder import run_label
    from snnx.pipeline.recipe_files import load_recipe
    from snnx.pipeline.run import Run

    if not args.recipe:
        raise SnnxError("--recipe: required (a recipe path or shipped name, see "
                        "`snnx recipes list`)")
    recipe = load_recipe(args.recipe, args.set)
    if args.print_config:
        print(recipe.to_yaml(), end="")
        return None
    set_threads(args.threads)
    return Run(recipe, out=args.out, label=run_label(parse_sets(args.set)))


def print_summary(report: dict) -> None:
    from snnx.pipeline.report import summary_lines

    print("\n".join(summary_lines(report)))


def run(args: argparse.Namespace) -> int:
    from snnx.pipeline.run import Run

    if args.resume:
        used = [flag for flag, v in (("--recipe", args.recipe), ("--set", args.set),
                                     ("--out", args.out)) if v]
        if used:
            raise SnnxError(f"{used[0]}: not used with --resume (a run continues with its own "
                            f"config.resolved.yaml)")
        job = Run.resume(args.resume)
        set_threads(args.threads, job.saved_threads)
        if args.print_config:
            print(job.recipe.to_yaml(), end="")
            return 0
        if (Path(args.resume) / "report.json").is_file():
            from snnx.pipeline.compare import read_report

            print(f"{args.resume} has finished; nothing to resume")
            print_summary(read_report(args.resume))
            return 0
    else:
        job = new_run(args)
        if job is None:
            return 0
    job.setup()
    print_summary(job.run())
    return 0
