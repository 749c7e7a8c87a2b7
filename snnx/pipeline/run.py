"""One ``snnx adapt`` run: pretrain off-chip, deploy on the crossbar, adapt on-line, report.

A :class:`Run` keeps the run folder, resume and locking, and calls the phases in order (no
trainer framework; DESIGN.md contract 4)::

    run = Run(load_recipe("har_dfa"))
    run.setup()                  # data, model, rule, checks: every user error surfaces here
    with run:                    # creates runs/<recipe>/<timestamp>/ and the loggers
        run.pretrain()           # Pretraining: plain torch on the source subjects
        run.deploy()             # deploy(): to_analog + transforms; deployed accuracy;
                                 # optional chip-in-the-loop fine-tuning (finetune.py)
        run.adapt()              # OnlineLoop: predict each window, then learn
        run.evaluate()           # held-out target windows on the adapted chip
        run.sweep_time()         # optional: accuracy vs time since programming (eval.times)
        report = run.report()    # report.json, figures, TensorBoard hparams

Each phase object gets what it needs (network, inputs, chip, rule, stream, logger), not the
run. The on-line phase is prequential (:mod:`snnx.pipeline.loop`). Accuracies on held-out
windows are measured on the same chip without side effects
(:func:`snnx.pipeline.model.isolated`). Costs come from the chip's ledger accounts
(:mod:`snnx.pipeline.report`).

Checkpoints (``checkpoints/step_NNNNNN.h5``, every ``monitor.checkpoint_every`` steps and at
the end) hold the chip (with its ledger), the rule, the loop counters, the pass's order and
numpy RNG, the accuracies so far and the resolved config. After writing one, the run reloads
it into the live objects, so an interrupted run resumed with :meth:`Run.resume` continues
from exactly the state an uninterrupted run continues from (bit-identical accuracies and
ledger totals).
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
from snnx.config.seeds import sequence
from snnx.errors import ConfigError, SnnxError
from snnx.monitor.loggers import JsonlLogger, MultiLogger, StdoutLogger
from snnx.pipeline import model as pm
from snnx.pipeline.data import label_mask, prepare
from snnx.pipeline import report_realism as rr
from snnx.pipeline.deploy import deploy
from snnx.pipeline.checks import check_classes, check_memory
from snnx.pipeline.folder import (CONFIG_FILE, KEEP_STEP_CHECKPOINTS, LOCK_FILE,
                                  PREPROCESSING_FILE, RUN_KIND, absolute_paths, alive,
                                  check_writable, load_latest_checkpoint, new_run_dir,
                                  preprocessing_of, read_pid, read_run, write_text)
from snnx.pipeline.finetune import finetune
from snnx.pipeline.loop import OnlineLoop
from snnx.pipeline.pretrain import Pretraining
from snnx.pipeline.recipe import Recipe
from snnx.pipeline.report import build_report, fmt_acc, write_figures, write_json
from snnx.transforms import transform_reports

log = logging.getLogger(__name__)

SPLITS = ("source_train", "source_test", "stream", "target_test", "source_val")


class Run:
    """One run of a recipe (see module docstring).

    Args:
        recipe: the validated recipe.
        out: the run folder; default :func:`~snnx.pipeline.folder.new_run_dir` under runs/.
        resume: an existing run folder to continue (:meth:`resume` builds this).
        label: shown in the default folder name (``runs/<recipe>/<time>-<label>``), e.g.
            :func:`~snnx.pipeline.folder.run_label` of the ``--set`` overrides.
    """

    def __init__(self, recipe: Recipe, *, out: str | os.PathLike | None = None,
                 resume: str | os.PathLike | None = None, label: str = "") -> None:
        self.recipe = recipe
        self.resuming = resume is not None
        self.run_dir = Path(resume if resume is not None else
                            out or new_run_dir(recipe, label=label))
        self._state: dict | None = None        # checkpoint being resumed
        self._t_adapt = time.perf_counter()    # start of this process's adaptation
        self._adapt_before = 0.0               # adaptation seconds before a resume
        self._created: str | None = None       # "folder" or "files" this run created
        self.logger: Any = None
        self._tb: Any = None
        self.chip: Any = None
        self.loop: OnlineLoop | None = None
        self.acc: dict[str, float | None] = {}
        self.transform_info: dict[str, dict] = {}  # report blocks of the transforms
        self.timing: dict[str, float] = {}
        self.pretrain_summary: dict = {}       # report.json's pretrain block
        self.saved_threads = 1                 # torch threads of the run being resumed
        self.blocks: dict[str, Any] = {}       # extra report.json blocks (finetune, drift)
        self._keep_bytes = 0                   # metrics.jsonl bytes written before the resume

    # ------------------------------------------------------------------ construction
    @classmethod
    def resume(cls, run_dir: str | os.PathLike) -> "Run":
        """A run that continues ``run_dir`` from its latest checkpoint (from the start when
        it has none yet; a finished run is only reported again)."""
        recipe, _ = read_run(run_dir, "--resume")
        pid = read_pid(Path(run_dir) / LOCK_FILE)
        if pid and pid != os.getpid() and alive(pid):
            raise SnnxError(f"--resume: {run_dir} is still being written by process {pid}")
        run = cls(recipe, resume=run_dir)
        own = run.checkpoints / "pretrained.h5"
        last = load_latest_checkpoint(run_dir, "--resume", recipe)
        if last is not None:
            run._state = last[1]
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

    @property
    def checkpoints(self) -> Path:
        """The run's checkpoint folder."""
        return self.run_dir / "checkpoints"

    def setup(self) -> None:
        """Load and check everything before any work: data, network, rule, pretrained
        model, output folder. Writes nothing.

        Raises:
            SnnxError: any user error, one line naming the key path.
        """
        r = self.recipe = absolute_paths(self.recipe)
        if not self.resuming:  # folder problems first: they cost no work
            check_writable(self.run_dir, "--out")
            if self.run_dir.exists() and any(self.run_dir.iterdir()):
                raise SnnxError(f"--out: {self.run_dir} exists and is not empty; choose "
                                f"another folder or continue it with --resume {self.run_dir}")
        if r.device not in ("cpu", "auto"):  # auto: the CPU, until the networks support more
            if not _device_ok(r.device):
                raise ConfigError(f"device: {r.device!r} is not available on this machine")
            raise ConfigError(f"device: {r.device!r} is not supported by snnx adapt yet (the "
                              f"networks' weight-noise and encoder generators are CPU "
                              f"generators); use cpu")
        self.hw = r.hw_config()
        self.data = d = prepare(r)
        check_classes(d, r)
        check_memory(r, d)
        self.net = pm.build_net(r, d.n_channels, d.window, d.n_classes)
        self.preprocessing = preprocessing_of(r, d)
        self.rule = pm.build_rule(r)
        self._given = None
        if r.pretrain.checkpoint:
            from snnx.pipeline.deployed import pretrained_from

            self._given = pretrained_from(r.pretrain.checkpoint)
            pm.load_pretrained(self.net, self._given, "pretrain.checkpoint")
        splits = [k for k in SPLITS if getattr(d, k) is not None]  # source_val may be None
        self.x = {k: pm.as_input(r, getattr(d, k).X) for k in splits}
        self.y = {k: torch.from_numpy(getattr(d, k).y) for k in splits}
        self.labelled = label_mask(len(d.stream), r.data.label_rate,
                                   np.random.default_rng(sequence(r.seed, "data.labels")))

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
            write_text(self.run_dir / CONFIG_FILE, self.recipe.to_yaml())
        if not (self.run_dir / PREPROCESSING_FILE).exists():  # also for a run from before it
            write_text(self.run_dir / PREPROCESSING_FILE, self.preprocessing.to_json())
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
            from snnx.monitor.tensorboard import TensorBoardLogger

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
    @property
    def _aware(self) -> bool:
        p = self.recipe.pretrain
        return p.qat_bits is not None or p.noise_aware

    def pretrain(self) -> None:
        """:class:`~snnx.pipeline.pretrain.Pretraining` of the software network."""
        phase = Pretraining(
            recipe=self.recipe, net=self.net, x=self.x, y=self.y,
            stats=(self.data.mean, self.data.std), logger=self.logger, tb=self._tb,
            path=self.checkpoints / "pretrained.h5", metrics=self.run_dir / "metrics.jsonl",
            given=self._given, resume_from=self._purge_step if self.resuming else None,
            hw=self.hw, plain=self._plain_on_chip)
        acc, seconds = phase.run()
        self.pretrain_summary = phase.summary
        self.acc.update(acc)
        self.timing["pretrain_s"] = seconds
        if self._state is not None and "timing" in self._state:  # the real one, not the reload
            self.timing["pretrain_s"] = float(self._state["timing"]["pretrain_s"])

    def _plain_on_chip(self, net: Any) -> dict:
        """Deployed accuracies of the plain model (before hardware-aware training)."""
        chip = deploy(net, self.hw, self.recipe, self.x["source_train"][:64])
        draws = self.recipe.eval.mc_draws
        return {"deployed_plain": pm.accuracy(chip, self.x["target_test"],
                                              self.y["target_test"], draws),
                "deployed_source_plain": pm.accuracy(chip, self.x["source_test"],
                                                     self.y["source_test"], draws)}

    def deploy(self) -> None:
        """Program the network onto tiles, apply the transforms, measure the deployed
        accuracy on the target, fine-tune with the chip in the loop (``finetune``) and
        build the rule's hardware (or restore a checkpoint)."""
        self.chip = deploy(self.net, self.hw, self.recipe, self.x["source_train"][:64])
        self.transform_info = transform_reports(self.chip, self.measure_model)
        self.loop = OnlineLoop(recipe=self.recipe, chip=self.chip, rule=self.rule,
                               stream=(self.x["stream"], self.y["stream"]),
                               data=self.data.stream, labelled=self.labelled,
                               logger=self.logger, measure=self.measure,
                               save=self._save_step)
        if self._state is not None:
            self.rule.bind(self.chip)
            pm.load_chip_state(self.chip, self.rule, self._state["chip"])
            self.loop.load(self._state)
            self.acc.update(self._state["accuracy"])
            self.blocks.update(self._state.get("blocks", {}))
            log.info("resuming at stream window %d, step %d", self.loop.pos, self.loop.steps)
            return
        self.acc["deployed"] = self.measure()
        log.info("deployed accuracy on the target: %s", fmt_acc(self.acc["deployed"]))
        if self._aware:
            self.acc["deployed_source"] = self.measure("source_test")
        start = self.acc["deployed"]
        if self.recipe.finetune.epochs:
            self.blocks["finetune"] = finetune(self.chip, self.recipe, self.x["source_train"],
                                               self.y["source_train"], self.logger)
            start = self.acc["finetuned"] = self.measure()
            log.info("fine-tuned accuracy on the target: %s", fmt_acc(start))
        self.loop.start(start)

    def measure(self, split: str = "target_test") -> float:
        """Accuracy of the chip on held-out windows (``eval.mc_draws`` reads, no side effects)."""
        return self.measure_model(self.chip, split)

    def measure_model(self, model: Any, split: str = "target_test") -> float:
        """Accuracy of any model on held-out windows (``eval.mc_draws``, no side effects)."""
        return pm.accuracy(model, self.x[split], self.y[split], self.recipe.eval.mc_draws)

    def adapt(self) -> None:
        """:class:`~snnx.pipeline.loop.OnlineLoop` over the target stream."""
        self._t_adapt = time.perf_counter()
        self._adapt_before = float(self._state["timing"].get("adapt_s", 0.0)) if (
            self._state is not None and "timing" in self._state) else 0.0
        self.loop.stream()
        self.timing["adapt_s"] = self._adapt_before + time.perf_counter() - self._t_adapt

    def evaluate(self) -> None:
        """Adapted accuracy on held-out target windows (and on the source, for forgetting)."""
        self.acc["adapted"] = self.loop.curves["eval_acc"][-1]
        self.acc["adapted_source"] = self.measure("source_test")
        seen = self.loop.preq["seen"]
        self.acc["prequential"] = self.loop.preq["correct"] / seen if seen else None
        log.info("adapted accuracy on the target: %s", fmt_acc(self.acc["adapted"]))

    def sweep_time(self) -> None:
        """Accuracy vs time since programming, with and without adaptation
        (:mod:`snnx.pipeline.time_sweep`; only with ``eval.times``)."""
        if not self.recipe.eval.times:
            return
        from snnx.pipeline.time_sweep import time_sweep

        self.blocks["drift"] = time_sweep(
            recipe=self.recipe, stream=(self.x["stream"], self.y["stream"]),
            deploy_chip=lambda: deploy(self.net, self.hw, self.recipe,
                                       self.x["source_train"][:64]),
            data=self.data.stream, labelled=self.labelled, x_test=self.x["target_test"],
            y_test=self.y["target_test"])
        for line in rr.drift_table(self.blocks["drift"]):
            log.info("drift %s", line)

    def report(self) -> dict:
        """Write report.json, the figures and the TensorBoard hparams; return the report."""
        r, lp = self.recipe, self.loop
        rep = build_report(
            recipe=r, hw_name=self.hw.name, run_dir=self.run_dir, accuracy=self.acc,
            ledger=self.chip.ledger, steps=lp.steps,
            stream={"windows": lp.total, "passes": r.adapt.passes,
                    "labelled": int(self.labelled.sum()), "learned": lp.learned,
                    "steps": lp.steps},
            data_info=self.data.info,
            model={"kind": r.model.kind,
                   "layers": [list(lyr.tile.shape) for lyr in self.chip.layers],
                   "weights": pm.n_params(self.net),
                   "timesteps": getattr(r.model_params, "timesteps", None)},
            curves=lp.curves, timing=self.timing, threads=torch.get_num_threads(),
            pretrain=self.pretrain_summary, extra=self.transform_info)
        rep["programming"] = rr.programming_block(self.chip, self.hw)
        if "finetune" in self.blocks:
            rep["finetune"] = rr.finetune_block(self.blocks["finetune"], self.chip.ledger)
        if self._aware:
            rep["hardware_aware"] = rr.hardware_aware_block(r, self.acc)
        if "drift" in self.blocks:
            rep["drift"] = self.blocks["drift"]
        write_json(self.run_dir / "report.json", rep)
        if r.monitor.figures:
            write_figures(self.run_dir, rep)
            if "drift" in rep:
                from snnx.monitor.figures import plot_drift

                plot_drift(rep["drift"], self.run_dir / "drift.png",
                              f"{r.name}: accuracy vs time since programming "
                              f"({r.adapt.rule}, {r.eval.times_mode})")
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
            self.sweep_time()
            return self.report()

    # ------------------------------------------------------------------ checkpoints
    def _save_step(self, loop_state: dict) -> dict:
        """Write ``checkpoints/step_NNNNNN.h5`` (the loop's counters, the chip, the
        accuracies, the config) and keep the newest few. The chip then continues from the
        state just written -- restored from memory, not read back from the file (the
        checkpoint format round-trips every value and key order exactly) -- so a run
        resumed from this file continues exactly as this one does."""
        metrics = self.run_dir / "metrics.jsonl"
        state = {"kind": RUN_KIND, "config": self.recipe.to_yaml(), **loop_state,
                 "chip": pm.chip_state(self.chip, self.rule), "accuracy": dict(self.acc),
                 "blocks": dict(self.blocks),
                 "metrics_bytes": metrics.stat().st_size if metrics.exists() else 0,
                 "threads": torch.get_num_threads(),
                 "preprocessing": self.preprocessing.to_dict(),
                 "timing": {"pretrain_s": float(self.timing.get("pretrain_s", 0.0)),
                            "adapt_s": self._adapt_before + time.perf_counter() - self._t_adapt}}
        path = self.checkpoints / f"step_{int(loop_state['steps']):06d}.h5"
        ckpt.save(path, state)
        pm.load_chip_state(self.chip, self.rule, state["chip"])
        for old in sorted(self.checkpoints.glob("step_*.h5"))[:-KEEP_STEP_CHECKPOINTS]:
            if old != path:
                os.unlink(old)
        return state


def _device_ok(device: str) -> bool:
    try:
        torch.empty(1, device=device)
        return True
    except (RuntimeError, AssertionError):
        return False
