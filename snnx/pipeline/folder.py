"""Run folders: naming, reading a run back, locking, and TensorBoard on resume.

Helpers of :class:`snnx.pipeline.run.Run` that deal with what is on disk rather than with
the run's phases. A run folder holds ``config.resolved.yaml`` (the validated recipe, paths absolute),
``checkpoints/`` (``pretrained.h5`` and ``step_NNNNNN.h5``), ``metrics.jsonl``, ``tb/``,
``report.json``, figures, and ``run.lock`` while a process writes it.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from snnx import checkpoint as ckpt
from snnx.errors import ConfigError, SnnxError
from snnx.pipeline.recipe import Recipe
from snnx.pipeline.recipe_files import load_recipe

RUN_KIND = "snnx-run"
CONFIG_FILE = "config.resolved.yaml"
PREPROCESSING_FILE = "preprocessing.json"
KEEP_STEP_CHECKPOINTS = 2
LOCK_FILE = "run.lock"
LABEL_CHARS = 48
"""Longest run label in a folder name (longer labels are cut)."""

log = logging.getLogger(__name__)


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


def run_label(sets: dict | list | None) -> str:
    """A short folder label from ``--set`` overrides: the rule's name for ``adapt.rule``,
    ``<last key part><value>`` for any other key, joined by ``-`` (file-name safe).

    Example:
        >>> run_label({"adapt.rule": "bp", "hw.overrides.noise.read.constant.sigma": 0.02})
        'bp-sigma0.02'
        >>> run_label({"model.hidden": [64, 32], "seed": 3})
        'hidden64x32-seed3'
    """
    items = sets.items() if isinstance(sets, dict) else (sets or [])
    parts = []
    for key, value in items:
        if isinstance(value, (list, tuple)):
            value = "x".join(str(v) for v in value)
        part = str(value) if key == "adapt.rule" else f"{str(key).split('.')[-1]}{value}"
        parts.append(re.sub(r"[^A-Za-z0-9_.+=]+", "_", part).strip("_."))
    label = "-".join(p for p in parts if p)
    return label[:LABEL_CHARS].rstrip("-_.")


def new_run_dir(recipe: Recipe, root: str | os.PathLike = "runs", label: str = "") -> Path:
    """``runs/<recipe name>/<YYYYmmdd-HHMMSS>[-<label>]`` (with ``-2``, ``-3``... if taken);
    not created. The label (:func:`run_label`) shows what the run changed, in the folder and
    in TensorBoard's run list."""
    stamp = time.strftime("%Y%m%d-%H%M%S") + (f"-{label}" if label else "")
    base = Path(root) / recipe.name / stamp
    path, i = base, 2
    while path.exists():
        path, i = base.with_name(f"{base.name}-{i}"), i + 1
    return path


def check_writable(path: str | os.PathLike, flag: str = "--out") -> None:
    """Refuse a run folder that cannot be written, before any work: probe its nearest
    existing ancestor with a temporary folder (removed at once), so a read-only file system,
    an immutable folder, a file in the way or a path under ``/proc`` is one line.

    Raises:
        SnnxError: ``<flag>: <path>: <why>``.
    """
    path = Path(path).expanduser().absolute()
    if path.exists() and not path.is_dir():
        raise SnnxError(f"{flag}: {path} is a file, not a folder")
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise SnnxError(f"{flag}: {path}: {probe} is a file, not a folder")
    try:
        tmp = tempfile.mkdtemp(prefix=".snnx-probe-", dir=probe)
    except OSError as e:
        raise SnnxError(f"{flag}: {path}: cannot create a folder in {probe} "
                        f"({e.strerror or e.__class__.__name__})") from None
    shutil.rmtree(tmp, ignore_errors=True)


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
    """A step checkpoint of a run with ``recipe``.

    Raises:
        CheckpointError: unreadable, or not a checkpoint of an snnx run.
        SnnxError: its config differs from the run folder's.
    """
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


def load_latest_checkpoint(run_dir: str | os.PathLike, flag: str,
                           recipe: Recipe) -> tuple[Path, dict] | None:
    """The newest readable step checkpoint of a run: a corrupt one (a disk error, a copy
    cut short) is skipped with a warning naming the one used instead. None when the run has
    no step checkpoint.

    Raises:
        CheckpointError: every step checkpoint is unreadable (with what to do).
    """
    files = sorted(p for p in (Path(run_dir) / "checkpoints").glob("step_*.h5")
                   if not p.name.endswith(".tmp"))
    bad = []
    for path in reversed(files):
        try:
            state = load_run_checkpoint(path, flag, recipe)
        except ckpt.CheckpointError as e:
            bad.append(path.name)
            why = str(e)
            continue
        if bad:
            log.warning("warning: %s; continuing from the previous one, %s", why, path.name)
        return path, state
    if bad:
        raise ckpt.CheckpointError(
            f"{flag}: no readable step checkpoint ({why.removeprefix(flag + ': ')}); delete "
            f"{', '.join(bad)} to adapt again from checkpoints/pretrained.h5")
    return None


def write_text(path: Path, text: str) -> None:
    """Write a small text file of the run folder."""
    path.write_text(text, encoding="utf-8")


def preprocessing_of(recipe: Recipe, data: Any) -> Any:
    """The :class:`~snnx.learn.preprocess.Preprocessing` of a run's prepared data: channel
    names and order, the source statistics, window, hop (``data.<kind>.hop`` when the source
    has one, else half a window), sample rate, classes, the model's window and input shape."""
    from snnx.learn.preprocess import Preprocessing
    from snnx.nn import MODELS

    s = data.stream
    hop = getattr(recipe.data_params, "hop", None) or s.meta.get("hop") or max(
        1, data.raw_window // 2)
    return Preprocessing(channels=s.channel_names, mean=data.mean, std=data.std,
                         window=data.raw_window, hop=int(hop), sample_rate_hz=s.sample_rate_hz,
                         classes=s.classes, model_window=data.window,
                         flatten=bool(MODELS.get(recipe.model.kind).flat_input))


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
