"""``snnx train``: pretrain off-chip only and save the model (checkpoints/pretrained.h5)."""

from __future__ import annotations

import argparse

from snnx.cli.adapt import new_run, recipe_args

HELP = "pretrain off-chip only and save the model (checkpoints/pretrained.h5)"


def add_args(p: argparse.ArgumentParser) -> None:
    recipe_args(p)


def run(args: argparse.Namespace) -> int:
    from snnx.pipeline.report import fmt_acc, write_json

    job = new_run(args)
    if job is None:
        return 0
    job.setup()
    with job:
        job.pretrain()
        path = job.checkpoints / "pretrained.h5"
        write_json(job.run_dir / "report.json", {
            "recipe": job.recipe.name, "run_dir": str(job.run_dir), "pretrained": str(path),
            "accuracy": dict(job.acc), "data": job.data.info, "timing": job.timing,
            "pretrain": job.pretrain_summary})
    print(f"software accuracy {fmt_acc(job.acc['software'])} (held-out source windows), "
          f"{fmt_acc(job.acc['software_target'])} on the target subjects")
    print(f"pretrained model: {path}")
    print(f"use it: snnx adapt --recipe {args.recipe} --set pretrain.checkpoint={path}")
    return 0
