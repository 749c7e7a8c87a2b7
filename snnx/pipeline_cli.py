"""``snnx adapt``, ``snnx train``, ``snnx eval`` and ``snnx compare`` (a :mod:`snnx.cli` plugin).

Every command checks everything it can (recipe, overrides, data file, checkpoints, output
folder) before doing any work; a user error is one line on stderr and exit status 2, and no
run folder is left behind. Examples::

    snnx adapt --recipe recipes/har_dfa.yaml
    snnx adapt --recipe har_dfa --set adapt.rule=bp --set adapt.lr=5e-3
    snnx adapt --recipe har_dfa --set data.kind=hdf5 --set data.path=my_windows.h5
    snnx adapt --resume runs/har_dfa/20250101-120000
    snnx train --recipe har_dfa --out runs/pretrained
    snnx eval --run runs/har_dfa/20250101-120000
    snnx compare runs/har_dfa/* runs/har_bp/* --out figures/
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

from snnx.errors import SnnxError

_EPILOG_ADAPT = """examples:
  snnx adapt --recipe recipes/har_dfa.yaml
  snnx adapt --recipe har_dfa --set adapt.rule=bp --set hw.overrides.noise.read_sigma=0.02
  snnx adapt --recipe har_dfa --set data.kind=hdf5 --set data.path=my_windows.h5
  snnx adapt --recipe har_dfa --print-config
  snnx adapt --resume runs/har_dfa/20250101-120000
"""


def _threads_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, metavar="N",
                   help="torch intra-op threads (default 1, or the resumed run's): results are "
                        "reproducible for a given count; the shipped models are small, and one "
                        "thread is the fastest on a shared machine")


def _set_threads(n: int | None, default: int = 1) -> None:
    import torch

    n = default if n is None else n
    if n < 1:
        raise SnnxError(f"--threads: must be >= 1, got {n}")
    torch.set_num_threads(n)


def _one_line(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Run a command; a user error's message is folded onto one line (snnx.cli prints it)."""
    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except SnnxError as e:
            text = " ".join(str(e).split())
            if text == str(e):
                raise
            try:
                err = type(e)(text)
            except TypeError:
                err = SnnxError(text)
            raise err from None
    return run


def _recipe_args(p: argparse.ArgumentParser) -> None:
    _threads_arg(p)
    p.add_argument("--recipe", metavar="R", help="recipe YAML path or shipped name (har_dfa)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe key, e.g. --set adapt.lr=5e-3 (repeatable)")
    p.add_argument("--out", metavar="DIR", help="run folder (default runs/<recipe>/<time>/)")
    p.add_argument("--print-config", action="store_true",
                   help="print the resolved recipe (every key) and exit")


def _adapt_args(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = _EPILOG_ADAPT
    _recipe_args(p)
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue an interrupted run from its latest checkpoint")


def _load(args: argparse.Namespace):
    from snnx.recipes import load_recipe

    if not args.recipe:
        raise SnnxError("--recipe: required (a recipe path or shipped name, see "
                        "`snnx recipes list`)")
    return load_recipe(args.recipe, args.set)


def _print_summary(report: dict) -> None:
    from snnx.pipeline_report import summary_lines

    print("\n".join(summary_lines(report)))


def _adapt_run(args: argparse.Namespace) -> int:
    from snnx.pipeline import Run

    if args.resume:
        used = [flag for flag, v in (("--recipe", args.recipe), ("--set", args.set),
                                     ("--out", args.out)) if v]
        if used:
            raise SnnxError(f"{used[0]}: not used with --resume (a run continues with its own "
                            f"config.resolved.yaml)")
        run = Run.resume(args.resume)
        _set_threads(args.threads, run.saved_threads)
        if args.print_config:
            print(run.recipe.to_yaml(), end="")
            return 0
        done = Path(args.resume) / "report.json"
        if done.is_file():
            from snnx.pipeline_report import read_report

            print(f"{args.resume} has finished; nothing to resume")
            _print_summary(read_report(args.resume))
            return 0
    else:
        run = _new_run(args)
        if run is None:
            return 0
    run.setup()
    _print_summary(run.run())
    return 0


def _new_run(args: argparse.Namespace):
    """A fresh Run from ``--recipe``/``--set``; None after ``--print-config`` printed it."""
    from snnx.pipeline import Run

    recipe = _load(args)
    if args.print_config:
        print(recipe.to_yaml(), end="")
        return None
    _set_threads(args.threads)
    return Run(recipe, out=args.out)


def _train_run(args: argparse.Namespace) -> int:
    from snnx.pipeline_report import fmt_acc, write_json

    run = _new_run(args)
    if run is None:
        return 0
    run.setup()
    with run:
        run.pretrain()
        path = run.run_dir / "checkpoints" / "pretrained.h5"
        write_json(run.run_dir / "report.json", {
            "recipe": run.recipe.name, "run_dir": str(run.run_dir), "pretrained": str(path),
            "accuracy": dict(run.acc), "data": run.data.info, "timing": run.timing})
    print(f"software accuracy {fmt_acc(run.acc['software'])} (held-out source windows), "
          f"{fmt_acc(run.acc['software_target'])} on the target subjects")
    print(f"pretrained model: {path}")
    print(f"use it: snnx adapt --recipe {args.recipe} --set pretrain.checkpoint={path}")
    return 0


def _eval_args(p: argparse.ArgumentParser) -> None:
    _threads_arg(p)
    p.add_argument("--run", required=True, metavar="RUN_DIR", help="a run folder")
    p.add_argument("--checkpoint", metavar="FILE",
                   help="a step checkpoint of the run (default: the latest)")
    p.add_argument("--draws", type=int, metavar="N", help="read-noise draws per accuracy "
                   "(default: eval.mc_draws of the run)")


def _eval_run(args: argparse.Namespace) -> int:
    from snnx.pipeline import reevaluate
    from snnx.pipeline_report import fmt_acc

    if args.draws is not None and args.draws < 1:
        raise SnnxError(f"--draws: must be >= 1, got {args.draws}")
    _set_threads(args.threads)
    out = reevaluate(args.run, args.checkpoint, args.draws)
    print(f"checkpoint {out['checkpoint']} (stream window {out['position']}, "
          f"step {out['steps']})")
    print(f"software {fmt_acc(out['software'])} (source)  |  target: software "
          f"{fmt_acc(out['software_target'])}, deployed {fmt_acc(out['deployed'])}, "
          f"adapted {fmt_acc(out['adapted'])}")
    return 0


def _compare_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="finished run folders")
    p.add_argument("--out", metavar="PATH", default="compare.png",
                   help="figure file, or a folder for compare.png (default ./compare.png)")


def _compare_run(args: argparse.Namespace) -> int:
    from snnx.monitor import plot_rule_comparison
    from snnx.pipeline_report import compare_rows, compare_table, read_report

    rows = compare_rows([read_report(d) for d in args.runs])
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        out = out / "compare.png"
    print(compare_table(rows))
    plot_rule_comparison(rows, out)
    print(f"figure: {out}")
    return 0


COMMANDS: dict[str, tuple[str, Callable, Callable]] = {
    "adapt": ("pretrain, deploy on the crossbar, adapt on-line, report (a recipe run)",
              _adapt_args, _one_line(_adapt_run)),
    "train": ("pretrain off-chip only and save the model (checkpoints/pretrained.h5)",
              _recipe_args, _one_line(_train_run)),
    "eval": ("re-measure a run's accuracies from its checkpoints", _eval_args,
             _one_line(_eval_run)),
    "compare": ("accuracy, energy, latency and area of finished runs side by side",
                _compare_args, _one_line(_compare_run)),
}
