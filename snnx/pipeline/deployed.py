"""A finished run as one object: ``snnx.load_run(path) -> Deployed`` (DESIGN.md contract 3).

:func:`load_run` rebuilds a run's chip from its folder (or from one file written by
:meth:`Deployed.save`) without touching its data: the recipe (``config.resolved.yaml``), the
pretrained network (``checkpoints/pretrained.h5``, for the layer shapes and the encoder),
the newest readable step checkpoint (every tile's conductances, faults, variation and
mapping, the digital biases, the rule's state, the ledger; a corrupt newest one falls back
to the previous with a warning) and the input preprocessing (``preprocessing.json``: channel
order, z-scoring statistics, window, hop, sample rate, classes). A run stopped before its
first step checkpoint gives the chip as deployed.

What a :class:`Deployed` offers:

* :meth:`Deployed.adapter` -- an :class:`~snnx.learn.OnlineAdapter` on RAW sensor samples
  (the preprocessing is applied to every window; another sample rate is resampled);
* :meth:`Deployed.export` -- the weights read back from the chip (``read_weight``) and the
  preprocessing, as a pretrained-model checkpoint (``.h5``: ``pretrain.checkpoint`` of a new
  run takes it) or a torch file (``.pt``: a ``state_dict`` for a software model);
* :meth:`Deployed.save` -- the whole object in one HDF5 file that :func:`load_run` reads;
* :meth:`Deployed.windows` -- the run's own windows in raw units, regenerated from its data
  source (for checks and demonstrations only; loading never needs them).

Transforms (``transforms:``) act through the tiles' mapping, which the step checkpoint
holds, so they are not run again; what a transform keeps outside that state (``encrypt``'s
periphery keys, re-derived from the chip's PUF) is restored by
:func:`snnx.transforms.rebuild_transforms`.

Example (a finished run)::

    run = snnx.load_run("runs/har_dfa/20260101-120000")
    ad = run.adapter()                      # raw samples in, a class every hop out
    run.export("adapted.h5")                # snnx adapt ... --set pretrain.checkpoint=adapted.h5
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from snnx import checkpoint as ckpt
from snnx.config.seeds import derive
from snnx.errors import SnnxError
from snnx.learn.preprocess import Preprocessing
from snnx.pipeline import model as pm
from snnx.pipeline.folder import (CONFIG_FILE, PREPROCESSING_FILE, load_latest_checkpoint,
                                  read_run)
from snnx.pipeline.recipe import Recipe
from snnx.transforms import rebuild_transforms

DEPLOYED_KIND = "snnx-deployed"
"""``kind`` of a file written by :meth:`Deployed.save`."""


class Deployed:
    """A run's chip with its rule, hardware model, classes and input preprocessing.

    Attributes:
        recipe: the run's resolved recipe.
        chip: the network on tiles (weights as the chip holds them).
        rule: the on-line rule, bound to ``chip``, with the run's state.
        preprocessing: raw window -> model input (:class:`~snnx.learn.preprocess.Preprocessing`).
        report: the run's report.json (None for an unfinished run).
        position, steps: stream windows seen and on-chip steps made when it was saved.
        source: the folder or file it was loaded from.
    """

    def __init__(self, *, recipe: Recipe, chip: Any, rule: Any, preprocessing: Preprocessing,
                 report: dict | None = None, position: int = 0, steps: int = 0,
                 source: str = "") -> None:
        self.recipe, self.chip, self.rule = recipe, chip, rule
        self.preprocessing, self.report = preprocessing, report
        self.position, self.steps, self.source = int(position), int(steps), str(source)

    @property
    def hw(self) -> Any:
        """The hardware model of the chip."""
        return self.chip.hw

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names, index = class id."""
        return tuple(self.preprocessing.classes)

    # ------------------------------------------------------------------ use
    def adapter(self, rule: Any = None, *, lr: float | None = None, hop: int | None = None,
                sample_rate_hz: float | None = None, resample: str = "nearest") -> Any:
        """An :class:`~snnx.learn.OnlineAdapter` on this chip that takes raw samples.

        Args:
            rule: None for the run's rule with its state (DFA feedback, integrators), or a
                rule name / instance to continue with another rule (fresh state).
            lr: learning rate (default: the rule's).
            hop: samples between predictions (default: the run's hop at the live rate).
            sample_rate_hz: rate of the live source when it differs from the run's: windows
                then span the same time and are resampled.
            resample: ``nearest`` (pick samples) or ``area`` (average the live samples
                each run-rate sample spans: an anti-aliasing box filter when the source is
                faster), see :mod:`snnx.learn.preprocess`.
        """
        from snnx.learn import OnlineAdapter, make_rule

        if isinstance(rule, str) and rule != self.rule.name:
            rule = make_rule(rule, lr=self.recipe.adapt.lr if lr is None else lr,
                             seed=derive(self.recipe.seed, f"rule.{rule}"))
        elif rule is None or isinstance(rule, str):
            rule = self.rule
        return OnlineAdapter(self.chip, rule, hop=hop, lr=lr,
                             preprocess=self.preprocessing.at_rate(sample_rate_hz, resample))

    def inputs(self, windows: Any) -> torch.Tensor:
        """Raw windows (N, window, C) -> model inputs (float32 tensor)."""
        return torch.from_numpy(np.ascontiguousarray(self.preprocessing(windows)))

    def accuracy(self, windows: Any, labels: Any, draws: int = 1) -> float:
        """Accuracy on raw windows (N, window, C), averaged over ``draws`` noisy reads,
        without side effects on the chip (as a run measures)."""
        y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
        return pm.accuracy(self.chip, self.inputs(windows), y, draws)

    def windows(self, split: str = "target_test") -> tuple[np.ndarray, np.ndarray]:
        """The run's own windows of ``split`` (``source_train``, ``source_test``, ``stream``,
        ``target_test``) as the sensor gave them (raw units, the data's window length).

        They are regenerated from the recipe's data source: for checks and examples only.
        """
        from snnx.pipeline.data import prepare

        if split not in ("source_train", "source_test", "stream", "target_test"):
            raise SnnxError(f"split: {split!r} is not one of source_train, source_test, "
                            f"stream, target_test")
        ds = getattr(prepare(self.recipe.replace(**{"data.standardize": False})), split)
        X, p = ds.X, self.preprocessing
        if X.shape[1] != p.window:  # undo the run's stretch (nearest sample, W' >= W)
            X = X[:, -(-np.arange(p.window) * X.shape[1] // p.window), :]
        return np.ascontiguousarray(X, np.float32), ds.y.copy()

    def software(self) -> torch.nn.Module:
        """A software copy of the network with the weights the chip holds now."""
        return self.chip.to_digital().eval()

    # ------------------------------------------------------------------ files
    def pretrained_state(self) -> dict:
        """The chip's weights read back, as a pretrained-model checkpoint state."""
        p = self.preprocessing
        sw = self.software()
        state = pm.pretrained_state(sw, self.recipe, p.mean, p.std, None, 0,
                                    {"loss": [], "accuracy": []})
        state["preprocessing"] = p.to_dict()
        state["exported_from"] = self.source
        return state

    def export(self, path: str | os.PathLike) -> Path:
        """Write the weights read back from the chip plus the preprocessing.

        ``.pt``: ``torch.save`` of ``{"state_dict", "model", "preprocessing"}`` (plain
        tensors, lists and numbers; ``model`` names the network class and its arguments).
        Any other suffix: an HDF5 pretrained-model checkpoint that a new run starts from
        (``--set pretrain.checkpoint=PATH``).
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".pt":
            sw = self.software()
            pre = json.loads(self.preprocessing.to_json())
            kwargs = {k: (v if not isinstance(v, tuple) else list(v))
                      for k, v in sw._kwargs.items() if not isinstance(v, torch.dtype)}
            torch.save({"state_dict": sw.state_dict(),
                        "model": {"class": type(sw).__name__, "kind": self.recipe.model.kind,
                                  "kwargs": kwargs},
                        "preprocessing": pre}, path)
        else:
            ckpt.save(path, self.pretrained_state())
        return path

    def save(self, path: str | os.PathLike) -> Path:
        """Write the whole object (chip, rule, preprocessing, recipe, report) to one HDF5
        file that :func:`load_run` reads back."""
        path = Path(path)
        ckpt.save(path, {"kind": DEPLOYED_KIND, "config": self.recipe.to_yaml(),
                         "chip": pm.chip_state(self.chip, self.rule),
                         "model": dict(self.chip.to_digital().state_dict()),
                         "preprocessing": self.preprocessing.to_dict(),
                         "report": json.dumps(self.report) if self.report else "",
                         "position": self.position, "steps": self.steps})
        return path

    def __repr__(self) -> str:
        return (f"Deployed({self.recipe.name!r}, rule={self.rule.name!r}, hw={self.hw.name!r}, "
                f"classes={len(self.classes)}, steps={self.steps}, source={self.source!r})")


def _build(recipe: Recipe, pre: Preprocessing, model_state: dict, where: str) -> tuple:
    net = pm.build_net(recipe, pre.n_channels, pre.model_window, len(pre.classes))
    pm.load_pretrained(net, model_state, where)
    chip = rebuild_transforms(net.to_analog(recipe.hw_config(), seed=recipe.seed),
                              recipe.transforms, seed=recipe.seed)  # e.g. a periphery key
    rule = pm.build_rule(recipe)
    rule.bind(chip)
    return chip, rule


def load_run(path: str | os.PathLike) -> Deployed:
    """A run folder (finished, interrupted or resumed) or a :meth:`Deployed.save` file as a
    :class:`Deployed`. Nothing of the training data is read.

    Raises:
        SnnxError: ``load_run: ...`` (not a run, unreadable files, no preprocessing).
    """
    path = Path(path)
    if path.is_file():
        return _load_file(path)
    recipe, _ = read_run(path, "load_run")
    pre_file = path / PREPROCESSING_FILE
    try:
        pre = Preprocessing.from_dict(json.loads(pre_file.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError) as e:
        raise SnnxError(f"load_run: {pre_file} is missing or unreadable "
                        f"({e.__class__.__name__}); a run folder written by this snnx has it"
                        ) from None
    try:
        pretrained = ckpt.load(path / "checkpoints" / "pretrained.h5")
    except ckpt.CheckpointError as e:
        raise ckpt.CheckpointError(f"load_run: {e}") from None
    chip, rule = _build(recipe, pre, pretrained, "load_run")
    last = load_latest_checkpoint(path, "load_run", recipe)
    position = steps = 0
    if last is not None:
        pm.load_chip_state(chip, rule, last[1]["chip"])
        position, steps = int(last[1]["position"]), int(last[1]["steps"])
    elif recipe.transforms:
        raise SnnxError(f"load_run: {path} has no step checkpoint yet and its recipe has "
                        f"transforms; resume it (snnx adapt --resume {path}) first")
    report = None
    if (path / "report.json").is_file():
        report = json.loads((path / "report.json").read_text(encoding="utf-8"))
    return Deployed(recipe=recipe, chip=chip, rule=rule, preprocessing=pre, report=report,
                    position=position, steps=steps, source=str(path))


def _load_file(path: Path) -> Deployed:
    try:
        state = ckpt.load(path)
    except ckpt.CheckpointError as e:
        raise ckpt.CheckpointError(f"load_run: {e}") from None
    return _from_saved(path, state)


def _from_saved(path: Path, state: dict) -> Deployed:
    """A :class:`Deployed` from the loaded contents ``state`` of a :meth:`Deployed.save`
    file ``path``."""
    from snnx.config.yamlio import parse
    from snnx.pipeline.recipe import build_recipe

    if state.get("kind") != DEPLOYED_KIND:
        raise SnnxError(f"load_run: {path} is neither a run folder nor a file written by "
                        f"Deployed.save")
    recipe = build_recipe(parse(state["config"], f"load_run: {path}: config"))
    pre = Preprocessing.from_dict(state["preprocessing"])
    model_state = {"kind": pm.PRETRAINED_KIND, "model": state["model"],
                   "gen": state["chip"]["gen"]}
    chip, rule = _build(recipe, pre, model_state, "load_run")
    pm.load_chip_state(chip, rule, state["chip"])
    return Deployed(recipe=recipe, chip=chip, rule=rule, preprocessing=pre,
                    report=json.loads(state["report"]) if state["report"] else None,
                    position=state["position"], steps=state["steps"], source=str(path))


def pretrained_from(path: str | os.PathLike, where: str = "pretrain.checkpoint") -> dict:
    """What ``pretrain.checkpoint`` names, as a pretrained-model state: a checkpoint file
    (``snnx train``, :meth:`Deployed.export`), or a run folder / :meth:`Deployed.save` file,
    whose chip's weights are read back -- a new run then starts from an adapted chip."""
    p = Path(path)
    try:
        if p.is_dir():
            return load_run(p).pretrained_state()
        state = ckpt.load(p)
        if state.get("kind") == DEPLOYED_KIND:
            return _from_saved(p, state).pretrained_state()
        return state
    except SnnxError as e:
        msg = str(e).removeprefix("load_run: ")
        raise ckpt.CheckpointError(f"{where}: {msg}") from None


__all__ = ["Deployed", "load_run", "pretrained_from", "DEPLOYED_KIND", "CONFIG_FILE"]
