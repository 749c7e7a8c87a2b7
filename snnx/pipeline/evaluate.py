"""``snnx eval``: re-measure a run's accuracies from its checkpoints; writes nothing."""

from __future__ import annotations

import os
from pathlib import Path

from snnx.errors import SnnxError
from snnx.pipeline import model as pm
from snnx.pipeline.deploy import deploy
from snnx.pipeline.folder import load_run_checkpoint, read_run
from snnx.pipeline.run import Run


def reevaluate(run_dir: str | os.PathLike, checkpoint: str | os.PathLike | None = None,
               draws: int | None = None) -> dict:
    """Re-measure a run's accuracies from its checkpoints.

    Returns:
        ``{"software", "software_target", "deployed", "adapted", "checkpoint", "position",
        "steps"}``.
    """
    recipe, last = read_run(run_dir, "--run")
    path = Path(checkpoint) if checkpoint else last
    if path is None:
        raise SnnxError(f"--run: {run_dir} has no step checkpoint yet (checkpoints/step_*.h5)")
    state = load_run_checkpoint(path, "--checkpoint" if checkpoint else "--run", recipe)
    own = Path(run_dir) / "checkpoints" / "pretrained.h5"
    if not own.is_file():
        raise SnnxError(f"--run: {run_dir} has no checkpoints/pretrained.h5")
    sets = {"pretrain.checkpoint": str(own)}
    if draws is not None:
        sets["eval.mc_draws"] = draws
    run = Run(recipe.replace(**sets), resume=run_dir)
    run.setup()
    run.net.eval()
    out = {"checkpoint": str(path),
           "software": pm.accuracy(run.net, run.x["source_test"], run.y["source_test"]),
           "software_target": pm.accuracy(run.net, run.x["target_test"], run.y["target_test"])}
    run.chip = deploy(run.net, run.hw, run.recipe, run.x["source_train"][:64])
    out["deployed"] = run.measure()
    run.rule.bind(run.chip)
    pm.load_chip_state(run.chip, run.rule, state["chip"])
    out["adapted"] = run.measure()
    out["position"], out["steps"] = int(state["position"]), int(state["steps"])
    return out
