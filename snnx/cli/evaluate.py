"""``snnx eval``: re-measure a run's accuracies from its checkpoints."""

from __future__ import annotations

import argparse

from snnx.cli.common import add_threads, set_threads
from snnx.errors import SnnxError

HELP = "re-measure a run's accuracies from its checkpoints"


def add_args(p: argparse.ArgumentParser) -> None:
    add_threads(p)
    p.add_argument("--run", required=True, metavar="RUN_DIR", help="a run folder")
    p.add_argument("--checkpoint", metavar="FILE",
                   help="a step checkpoint of the run (default: the latest)")
    p.add_argument("--draws", type=int, metavar="N", help="read-noise draws per accuracy "
                   "(default: eval.mc_draws of the run)")


def run(args: argparse.Namespace) -> int:
    from snnx.pipeline.evaluate import reevaluate
    from snnx.pipeline.report import fmt_acc

    if args.draws is not None and args.draws < 1:
        raise SnnxError(f"--draws: must be >= 1, got {args.draws}")
    set_threads(args.threads)
    out = reevaluate(args.run, args.checkpoint, args.draws)
    print(f"checkpoint {out['checkpoint']} (stream window {out['position']}, "
          f"step {out['steps']})")
    print(f"software {fmt_acc(out['software'])} (source)  |  target: software "
          f"{fmt_acc(out['software_target'])}, deployed {fmt_acc(out['deployed'])}, "
          f"adapted {fmt_acc(out['adapted'])}")
    return 0
