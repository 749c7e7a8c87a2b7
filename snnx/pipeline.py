"""One ``snnx adapt`` run: pretrain off-chip, deploy on the crossbar, adapt on-line, report.

A :class:`Run` is a plain class with one method per phase, called in order (no trainer
framework; DESIGN.md contract 4)::

    run = Run(load_recipe("har_dfa"))
    run.setup()                  # data, model, rule, checks: every user error surfaces here
    with run:                    # creates runs/<recipe>/<timestamp>/ and the loggers
        run.pretrain()           # plain torch on the source subjects (or a saved model)
        run.deploy()             # to_analog, transforms, deployed accuracy on the target
        run.adapt()              # prequential stream: predict each window, then learn
        run.evaluate()           # held-out target windows on the adapted chip
        report = run.report()    # report.json, figures, TensorBoard hparams

The on-line phase is prequential: each target window is classified by the chip as it
arrives (the ``adapt/accuracy`` curve), and the windows that carry a label
(``data.label_rate``) and are chosen for learning (``adapt.label_rate``) are collected until
``adapt.batch_size`` of them are ready; then the rule makes one on-chip step on them
(``rule.step``: forward, error, backward, ``outer_update``). Accuracies on held-out windows
are measured on the same chip without side effects (:func:`snnx.pipeline_model.isolated`).
The reported cost is that of the rule's steps (the adaptation); the predictions' cost is
reported apart under ``inference``, the one-off set-up of the rule (feedback tiles)
under ``rule_setup``.

Checkpoints (``checkpoints/step_NNNNNN.h5``, every ``monitor.checkpoint_every`` steps and at
the end) hold the chip, the rule, the loop counters, the pass's order and numpy RNG, the
metrics so far and the resolved config. After writing one, the run reloads it into the live
objects, so an interrupted run resumed with :meth:`Run.resume` continues from exactly the
state an uninterrupted run continues from (bit-identical accuracies and ledger totals).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from snnx import checkpoint as ckpt
from snnx import pipeline_model as pm
from snnx import pipeline_report as rpt
from snnx.errors import ConfigError, SnnxError
from snnx.monitor import JsonlLogger, MultiLogger, StdoutLogger, TensorBoardLogger
from snnx.pipeline_folder import (CONFIG_FILE, LOCK_FILE, absolute_paths,
                                  alive, load_run_checkpoint, new_run_dir, read_pid, read_run)
from snnx.pipeline_data import label_mask, prepare
from snnx.recipes import Recipe

log = logging.getLogger(__name__)

class Run:
    """One run of a recipe (see module docstring).

    Args:
        recipe: the validated recipe.
        out: the run folder; default :func:`new_run_dir` under ``runs/``.
        resume: an existing run folder to continue (:meth:`resume` builds this).
    """

    def __init__(self, recipe: Recipe, *, out: str | os.PathLike | None = None,
                 resume: str | os.PathLike | None = None) -> None:
        self.recipe = recipe
        self.resuming = resume is not None
        self.run_dir = Path(resume if resume is not None else out or new_run_dir(recipe))
        self._state: dict | None = None        # checkpoint being resumed
        self._created: str | None = None     # "folder" or "files" this run created
        self.logger: Any = None
        self.chip: Any = None
        self.acc: dict[str, float | None] = {}
        self.timing: dict[str, float] = {}
        self.saved_threads = 1                 # torch threads of the run being resumed
        self._keep_bytes = 0                   # metrics.jsonl bytes written before the resume
        self._tb: Any = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def resume(cls, run_dir: str | os.PathLike) -> "Run":
        """A run that continues ``run_dir`` from its latest checkpoint (from the start when
        it has none yet; a finished run is only reported again)."""
        recipe, last = read_run(run_dir, "--resume")
        lock = Path(run_dir) / LOCK_FILE
        pid = read_pid(lock)
        if pid and pid != os.getpid() and alive(pid):
            raise SnnxError(f"--resume: {run_dir} is still being written by process {pid}")
        run = cls(recipe, resume=run_dir)
        own = Path(run_dir) / "checkpoints" / "pretrained.h5"
        if last is not None:
            run._state = load_run_checkpoint(last, "--resume", recipe)
            run.saved_threads = int(run._state.get("threads", 1))
            run._keep_bytes = int(run._state["metrics_bytes"])
        elif own.is_file():  # stopped between pretraining and the first step checkpoint
            try:
                saved = ckpt.load(own)
            except ckpt.CheckpointError as e:
                raise ckpt.CheckpointError(f"--resume: {e}") from None
            run.saved_threads = int(saved.get("threads", 1))
            run._keep_bytes = int(saved.get("metrics_bytes", 0))
        return run

    def setup(self) -> None:
        """Load and check everything before any work: data, network, rule, pretrained
        model, transforms, output folder. Writes nothing.

        Raises:
            SnnxError: any user error, one line naming the key path.
        """
        r = self.recipe = absolute_paths(self.recipe)
        if r.device not in ("cpu", "auto"):  # auto: the CPU, until the networks support more
            if not _device_ok(r.device):
                raise ConfigError(f"device: {r.device!r} is not available on this machine")
            raise ConfigError(f"device: {r.device!r} is not supported by snnx adapt yet (the "
                              f"networks' weight-noise and encoder generators are CPU "
                              f"generators); use cpu")
        self.hw = r.hw_config()
        self.data = d = prepare(r)
        self.net = pm.build_net(r, d.n_channels, d.window, d.n_classes)
        self.rule = pm.make_rule(r)
        self._pretrained = None
        if r.pretrain.checkpoint:
            try:
                self._pretrained = ckpt.load(r.pretrain.checkpoint)
            except ckpt.CheckpointError as e:
                raise ckpt.CheckpointError(f"pretrain.checkpoint: {e}") from None
            pm.load_pretrained(self.net, self._pretrained, "pretrain.checkpoint")
        self.x = {k: pm.as_input(r, getattr(d, k).X) for k in
                  ("source_train", "source_test", "stream", "target_test")}
        self.y = {k: torch.from_numpy(getattr(d, k).y) for k in self.x}
        if r.transforms:  # transforms check their own parameters: try them on a copy now
            self._transformed(pm.build_net(r, d.n_channels, d.window, d.n_classes)
                              .to_analog(self.hw, seed=r.seed))
        if self.run_dir.exists() and not self.run_dir.is_dir():
            raise SnnxError(f"--out: {self.run_dir} is a file")
        if not self.resuming and self.run_dir.exists() and any(self.run_dir.iterdir()):
            raise SnnxError(f"--out: {self.run_dir} exists and is not empty; choose another "
                            f"folder or continue it with --resume {self.run_dir}")
        self.labelled = label_mask(len(d.stream), r.data.label_rate,
                                   np.random.default_rng([r.seed, 14]))

    def _transformed(self, chip: Any) -> Any:
        from snnx.transforms import apply_transforms

        calib = self.x["source_train"][:64]
        for i, spec in enumerate(self.recipe.transforms):
            try:
                chip = apply_transforms(chip, [spec], calib=calib, seed=self.recipe.seed + i)
            except SnnxError as e:
                raise ConfigError(f"transforms[{i}]: {e}") from None
            except (ValueError, TypeError) as e:
                raise ConfigError(f"transforms[{i}] ({spec.name}): {e}") from None
        return chip

    # ------------------------------------------------------------------ folder, loggers
    @property
    def _purge_step(self) -> int:
        """First step a resumed run logs again (events from there on are the old run's)."""
        return int(self._state["position"]) + 1 if self._state else 0

    def __enter__(self) -> "Run":
        mon = self.recipe.monitor
        if not self.resuming:
            self._created = "folder" if not self.run_dir.exists() else "files"
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / CONFIG_FILE).write_text(self.recipe.to_yaml(), encoding="utf-8")
        (self.run_dir / LOCK_FILE).write_text(str(os.getpid()), encoding="utf-8")
        metrics = self.run_dir / "metrics.jsonl"
        if self.resuming and metrics.exists():  # drop what was logged after the checkpoint
            with open(metrics, "r+b") as fh:
                fh.truncate(self._keep_bytes)
        loggers: list = [StdoutLogger(logging.DEBUG)]
        if mon.jsonl:
            loggers.append(JsonlLogger(metrics, append=self.resuming))
        self._tb = None
        if mon.tensorboard:
            self._tb = TensorBoardLogger(self.run_dir / "tb", purge_step=(
                self._purge_step if self.resuming else None))
            loggers.append(self._tb)
        self.logger = MultiLogger(loggers)
        if not self._keep_bytes:
            self.logger.log_config(self.recipe.to_dict())
        elif self._tb is not None and self._purge_step == 0:
            self._tb.log_config(self.recipe.to_dict())
        log.info("run folder: %s", self.run_dir)
        return self

    def __exit__(self, kind: Any, err: Any, tb: Any) -> None:
        if self.logger is not None:
            self.logger.close()
        (self.run_dir / LOCK_FILE).unlink(missing_ok=True)
        if self._created and isinstance(err, SnnxError):  # a user error in a fresh run
            if self._created == "folder":
                shutil.rmtree(self.run_dir, ignore_errors=True)
            else:  # the user's empty --out folder: leave it empty
                for p in self.run_dir.iterdir():
                    shutil.rmtree(p) if p.is_dir() else p.unlink()

    # ------------------------------------------------------------------ phases
    def pretrain(self) -> None:
        """Train the software network on the source subjects (plain torch, Adam), or load
        ``pretrain.checkpoint`` / the run's own pretrained model; measure software accuracy."""
        from tqdm.auto import tqdm

        r, t0 = self.recipe, time.perf_counter()
        own = self.run_dir / "checkpoints" / "pretrained.h5"
        history: dict = {"loss": [], "accuracy": []}
        opt = None
        if self.resuming and own.is_file():
            state = ckpt.load(own)
            pm.load_pretrained(self.net, state, "--resume")
            history = state["history"]
            for epoch, (loss, acc) in enumerate(zip(history["loss"], history["accuracy"]), 1):
                if self._tb is not None and epoch >= self._purge_step:  # purged: log again
                    self._tb.log_dict({"pretrain/loss": loss, "pretrain/accuracy": acc}, epoch)
        elif self._pretrained is not None:
            log.info("pretrained model: %s", r.pretrain.checkpoint)
            history = self._pretrained.get("history", history)
        elif r.pretrain.epochs:
            opt = torch.optim.Adam(self.net.parameters(), lr=r.pretrain.lr,
                                   weight_decay=r.pretrain.weight_decay)
            gen = torch.Generator().manual_seed(r.seed + 17)
            bar = tqdm(range(r.pretrain.epochs), desc="pretrain", unit="epoch", disable=None,
                       leave=False)
            for epoch in bar:
                loss, acc = pm.train_epoch(self.net, opt, self.x["source_train"],
                                           self.y["source_train"], r.pretrain.batch_size, gen)
                history["loss"].append(loss)
                history["accuracy"].append(acc)
                self.logger.log_dict({"pretrain/loss": loss, "pretrain/accuracy": acc}, epoch + 1)
                bar.set_postfix(loss=f"{loss:.3f}", acc=f"{acc:.3f}")
        self.net.eval()
        if not (self.resuming and own.is_file()):
            metrics = self.run_dir / "metrics.jsonl"
            ckpt.save(own, {**pm.pretrained_state(self.net, r, self.data.mean, self.data.std,
                                                  opt, len(history["loss"]), history),
                            "threads": torch.get_num_threads(),
                            "metrics_bytes": metrics.stat().st_size if metrics.exists() else 0})
        draws = r.eval.mc_draws if r.model.encoding == "rate" else 1
        self.acc["software"] = pm.accuracy(self.net, self.x["source_test"],
                                           self.y["source_test"], draws)
        self.acc["software_target"] = pm.accuracy(self.net, self.x["target_test"],
                                                  self.y["target_test"], draws)
        self.timing["pretrain_s"] = time.perf_counter() - t0
        log.info("software accuracy: %s on held-out source windows, %s on the target",
                 rpt.fmt_acc(self.acc["software"]), rpt.fmt_acc(self.acc["software_target"]))

    def deploy(self) -> None:
        """Program the network onto tiles, apply the transforms, measure the deployed
        accuracy on the target, and build the rule's hardware (or restore a checkpoint)."""
        r = self.recipe
        self.chip = self._transformed(self.net.to_analog(self.hw, seed=r.seed))
        from snnx.pipeline_loop import Loop

        self.loop = Loop(self)
        if self._state is not None:
            pm.bind_rule(self.rule, self.chip, r)
            pm.load_chip_state(self.chip, self.rule, self._state["chip"])
            self.loop.load(self._state)
            self.acc.update(self._state["accuracy"])
            log.info("resuming at stream window %d, step %d", self.loop.pos, self.loop.steps)
            return
        self.acc["deployed"] = self.measure()
        log.info("deployed accuracy on the target: %s", rpt.fmt_acc(self.acc["deployed"]))
        self.loop.start()

    def measure(self, split: str = "target_test") -> float:
        """Accuracy of the chip on held-out windows (``eval.mc_draws`` reads, no side effects)."""
        return pm.accuracy(self.chip, self.x[split], self.y[split], self.recipe.eval.mc_draws)

    def adapt(self) -> None:
        """Stream the target windows through the chip: predict, then learn (see module
        docstring). Checkpoints every ``monitor.checkpoint_every`` steps and at the end."""
        t0 = time.perf_counter()
        self.loop.stream()
        self.timing["adapt_s"] = time.perf_counter() - t0

    def evaluate(self) -> None:
        """Adapted accuracy on held-out target windows (and on the source, for forgetting)."""
        self.acc["adapted"] = self.loop.curves["eval_acc"][-1]
        self.acc["adapted_source"] = self.measure("source_test")
        seen = self.loop.preq["seen"]
        self.acc["prequential"] = self.loop.preq["correct"] / seen if seen else None
        log.info("adapted accuracy on the target: %s", rpt.fmt_acc(self.acc["adapted"]))

    def report(self) -> dict:
        """Write report.json, the figures and the TensorBoard hparams; return the report."""
        r, lp = self.recipe, self.loop
        led = self.chip.ledger
        rep = {"recipe": r.name, "rule": r.adapt.rule, "seed": r.seed, "hw": self.hw.name,
               "run_dir": str(self.run_dir), "accuracy": dict(self.acc),
               "cost": rpt.cost_summary(lp.costs["learn"], led.area_m2,
                                        led.area_by_component(), lp.steps),
               "inference": rpt.cost_summary(lp.costs["infer"], led.area_m2,
                                             led.area_by_component(), 0),
               "rule_setup": rpt.cost_summary(lp.costs["setup"], led.area_m2,
                                              led.area_by_component(), 0),
               "stream": {"windows": lp.total, "passes": r.adapt.passes,
                          "labelled": int(self.labelled.sum()), "learned": lp.learned,
                          "steps": lp.steps},
               "data": self.data.info,
               "model": {"kind": r.model.kind, "layers": [list(lyr.tile.shape) for lyr in
                                                          self.chip.layers],
                         "weights": pm.n_params(self.net),
                         "timesteps": r.model.timesteps if r.model.kind == "snn" else None},
               "curves": lp.curves, "timing": self.timing,
               "threads": torch.get_num_threads()}
        for block in ("inference", "rule_setup"):
            for key in ("area_m2", "area_by_component", "steps", "energy_per_step_j"):
                rep[block].pop(key)
        rpt.write_json(self.run_dir / "report.json", rep)
        if r.monitor.figures:
            rpt.write_figures(self.run_dir, rep)
        final = {"hparams/accuracy_adapted": self.acc["adapted"],
                 "hparams/accuracy_deployed": self.acc["deployed"],
                 "hparams/energy_j": rep["cost"]["energy_j"]}
        self.logger.log_hparams(r.to_dict(), final)
        return rep

    def run(self) -> dict:
        """All phases in order inside the run folder; returns the report."""
        with self:
            self.pretrain()
            self.deploy()
            self.adapt()
            self.evaluate()
            return self.report()


def _device_ok(device: str) -> bool:
    try:
        torch.empty(1, device=device)
        return True
    except (RuntimeError, AssertionError):
        return False


def reevaluate(run_dir: str | os.PathLike, checkpoint: str | os.PathLike | None = None,
               draws: int | None = None) -> dict:
    """Re-measure a run's accuracies from its checkpoints (``snnx eval``); writes nothing.

    Returns:
        ``{"software", "software_target", "deployed", "adapted", "checkpoint"}``.
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
    run.chip = run._transformed(run.net.to_analog(run.hw, seed=run.recipe.seed))
    out["deployed"] = run.measure()
    pm.bind_rule(run.rule, run.chip, run.recipe)
    pm.load_chip_state(run.chip, run.rule, state["chip"])
    out["adapted"] = run.measure()
    out["position"], out["steps"] = int(state["position"]), int(state["steps"])
    return out
