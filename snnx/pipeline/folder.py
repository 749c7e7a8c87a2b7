"""Run folders: naming, reading a run back, locking, and TensorBoard on resume.

Helpers of :class:`snnx.pipeline.run.Run` that deal with what is on disk rather than with
the run's phases. A run folder holds ``config.resolved.yaml`` (the validated recipe, paths absolute),
``checkpoints/`` (``pretrained.h5`` and ``step_NNNNNN.h5``), ``metrics.jsonl``, ``tb/``,
``report.json``, figures, and ``run.lock`` while a process writes it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from snnx import checkpoint as ckpt
from snnx.errors import ConfigError, SnnxError
from snnx.pipeline.recipe import Recipe
from snnx.pipeline.recipe_files import load_recipe

RUN_KIND = "snnx-run"
CONFIG_FILE = "config.resolved.yaml"
KEEP_STEP_CHECKPOINTS = 2
LOCK_FILE = "run.lock"


def absolute_paths(recipe: Recipe) -> Recipe:
    """The recipe with file paths made absolute, so a run resumes from any folder."""
    sets = {}
    data_path = getattr(recipe.data_params, "path", None)
    if data_path:
        sets[f"data.{recipe.data.kind}.path"] = str(Path(data_path).expanduser().resolve())
    if recipe.pretrain.checkpoint:
        sets["pretrain.checkpoint"] = str(Path(recipe.pretrain.checkpoint).expanduser().resolve())
    if Path(recipe.hw.preset).expanduser().is_file():
        sets["hw.preset"] = str(Path(recipe.hw.preset).expanduser().resolve())
    return recipe.replace(**sets) if sets else recipe


def new_run_dir(recipe: Recipe, root: str | os.PathLike = "runs") -> Path:
    """``runs/<recipe name>/<YYYYmmdd-HHMMSS>`` (with ``-2``, ``-3``... if taken); not created."""
    base = Path(root) / recipe.name / time.strftime("%Y%m%d-%H%M%S")
    path, i = base, 2
    while path.exists():
        path, i = base.with_name(f"{base.name}-{i}"), i + 1
    return path


def read_run(run_dir: str | os.PathLike, flag: str) -> tuple[Recipe, Path | None]:
    """The recipe of a run folder and its latest step checkpoint (None if there is none).

    Raises:
        SnnxError: ``<flag>: ...`` when the folder is not a run or its config is unreadable.
    """
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_FILE).is_file():
        raise SnnxError(f"{flag}: {run_dir} is not an snnx run folder (no {CONFIG_FILE})")
    try:
        recipe = load_recipe(run_dir / CONFIG_FILE)
    except ConfigError as e:
        raise ConfigError(f"{flag}: {run_dir / CONFIG_FILE}: {e}") from None
    return recipe, ckpt.latest(run_dir / "checkpoints", "step_*.h5")


def load_run_checkpoint(path: Path, flag: str, recipe: Recipe) -> dict:
    try:
        state = ckpt.load(path)
    except ckpt.CheckpointError as e:
        raise ckpt.CheckpointError(f"{flag}: {e}") from None
    if state.get("kind") != RUN_KIND or "chip" not in state:
        raise ckpt.CheckpointError(f"{flag}: {path} is not a checkpoint of an snnx run")
    if state.get("config") != recipe.to_yaml():
        raise SnnxError(f"{flag}: {CONFIG_FILE} differs from the config in {path.name}; "
                        f"restore the file or start a new run")
    return state


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
