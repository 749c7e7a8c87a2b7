"""The on-line loop of a run: the target stream, predict first, learn second, checkpoints.

:class:`Loop` owns every counter of the adaptation phase of a :class:`snnx.pipeline.Run` and
nothing else: stream position, on-chip steps, the pass's order and learn mask (drawn from one
numpy generator at the start of each pass), the windows waiting for a learning batch, the
prequential counts, the curves and the accumulated costs. :meth:`Loop.state` /
:meth:`Loop.load` move all of it (with the chip) through a checkpoint.

``adapt/accuracy`` is the prequential accuracy of the last :data:`RECENT` windows (each
predicted before it was learnt from), ``adapt/accuracy_cumulative`` that of the whole stream.

Cost bookkeeping: each prediction and each rule step is bracketed by
``ledger.snapshot()`` / ``ledger.since()`` and added to the ``infer`` / ``learn`` costs;
the rule's one-off hardware set-up goes to ``setup``.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from typing import Any

import numpy as np
import torch

from snnx import checkpoint as ckpt
from snnx import pipeline_model as pm
from snnx import pipeline_report as rpt
from snnx.pipeline_data import label_mask, stream_order
from snnx.pipeline_folder import KEEP_STEP_CHECKPOINTS, RUN_KIND

log = logging.getLogger(__name__)

RECENT = 50
"""Windows in the moving prequential accuracy (``adapt/accuracy``)."""


class Loop:
    """The adaptation loop of ``run`` (a :class:`snnx.pipeline.Run` after ``deploy``)."""

    def __init__(self, run: Any) -> None:
        self.run = run
        r = run.recipe
        self.S = len(run.data.stream)
        self.total = self.S * r.adapt.passes
        self.pos = self.steps = self.learned = 0
        self.pass_index = -1
        self.order = np.arange(self.S, dtype=np.int64)
        self.learn = np.ones(self.S, bool)
        self.pending: list[int] = []
        self.rng = np.random.default_rng([r.seed, 15])
        self.preq = {"correct": 0, "seen": 0}
        self.recent: deque[int] = deque(maxlen=RECENT)
        self.window = {"loss": 0.0, "losses": 0}
        self.curves: dict[str, list] = {"eval_pos": [], "eval_acc": [], "preq_pos": [],
                                        "preq_acc": []}
        self.costs = {"learn": rpt.empty_cost(), "infer": rpt.empty_cost(),
                      "setup": rpt.empty_cost()}
        self.saved_pos = -1

    # ------------------------------------------------------------------ phases
    def start(self) -> None:
        """Fresh run: build the rule's hardware (booked as set-up), log the starting point."""
        run = self.run
        led = run.chip.ledger
        snap = led.snapshot()
        pm.bind_rule(run.rule, run.chip, run.recipe)
        rpt.add_cost(self.costs["setup"], led.since(snap))
        self.curves["eval_pos"].append(0)
        self.curves["eval_acc"].append(run.acc["deployed"])
        run.logger.log("eval/accuracy", run.acc["deployed"], 0)
        self._pictures(0)

    def stream(self) -> None:
        """Stream until every pass is done (continues where a checkpoint left off)."""
        from tqdm.auto import tqdm

        run, r = self.run, self.run.recipe
        chip, led = run.chip, run.chip.ledger
        x, y = run.x["stream"], run.y["stream"]
        every = r.monitor.checkpoint_every
        bar = tqdm(total=self.total, initial=self.pos, desc=f"adapt ({r.adapt.rule})",
                   unit="win", disable=None, leave=False)
        while self.pos < self.total:
            p, i = divmod(self.pos, self.S)
            if p != self.pass_index:
                self._new_pass(p)
            j = int(self.order[i])
            snap = led.snapshot()
            pred = int(pm.logits_of(chip, x[j:j + 1]).argmax(1))
            rpt.add_cost(self.costs["infer"], led.since(snap))
            hit = int(pred == int(y[j]))
            self.preq["correct"] += hit
            self.preq["seen"] += 1
            self.recent.append(hit)
            self.pos += 1
            if run.labelled[j] and self.learn[i]:
                self.pending.append(j)
            stepped = len(self.pending) >= r.adapt.batch_size or (
                self.pos == self.total and bool(self.pending))
            if stepped:
                self._step(x, y)
            self._after_window(bar)
            if stepped and every and self.steps % every == 0:
                self.checkpoint()
            bar.update(1)
        bar.close()
        if self.saved_pos != self.pos:
            self.checkpoint()
        self._evaluate(self.pos)  # after the reload: what `snnx eval` measures on the file

    def _new_pass(self, p: int) -> None:
        r = self.run.recipe
        self.order = stream_order(self.run.data.stream, r.adapt.stream_order, self.rng)
        self.learn = label_mask(self.S, r.adapt.label_rate, self.rng)
        self.pass_index = p

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        run = self.run
        led = run.chip.ledger
        idx = torch.tensor(self.pending, dtype=torch.int64)
        self.pending = []
        snap = led.snapshot()
        out = run.rule.step(run.chip, x[idx], y[idx])
        rpt.add_cost(self.costs["learn"], led.since(snap))
        self.steps += 1
        self.learned += len(idx)
        self.window["loss"] += float(out["loss"])
        self.window["losses"] += 1

    def _after_window(self, bar: Any) -> None:
        run, mon, pos = self.run, self.run.recipe.monitor, self.pos
        end = pos == self.total
        if pos % mon.log_every == 0 or end:
            w, learn = self.window, self.costs["learn"]
            acc = sum(self.recent) / len(self.recent)
            metrics = {"adapt/accuracy": acc,
                       "adapt/accuracy_cumulative": self.preq["correct"] / self.preq["seen"],
                       "adapt/steps": self.steps, "adapt/learned": self.learned,
                       "hw/energy_j": sum(learn["energy"].values()),
                       "hw/latency_s": learn["latency_s"],
                       "hw/pulses": learn["counts"].get("pulse", 0.0),
                       "hw/inference_energy_j": sum(self.costs["infer"]["energy"].values())}
            if w["losses"]:
                metrics["adapt/loss"] = w["loss"] / w["losses"]
            run.logger.log_dict(metrics, pos)
            self.curves["preq_pos"].append(pos)
            self.curves["preq_acc"].append(acc)
            self.window = {"loss": 0.0, "losses": 0}
            bar.set_postfix(acc=f"{self.preq['correct'] / self.preq['seen']:.3f}",
                            steps=self.steps)
        every = run.recipe.eval.every
        if every and pos % every == 0 and not end:
            self._evaluate(pos)
        hist = mon.histograms_every
        if (hist and pos % hist == 0) or end:
            self._pictures(pos, image=end)

    def _evaluate(self, pos: int) -> None:
        acc = self.run.measure()
        self.curves["eval_pos"].append(pos)
        self.curves["eval_acc"].append(acc)
        self.run.logger.log("eval/accuracy", acc, pos)

    def _pictures(self, pos: int, image: bool = True) -> None:
        """Conductance histograms of every tile; a heatmap of layer 0's first array."""
        chip, logger = self.run.chip, self.run.logger
        for i, lyr in enumerate(chip.layers):
            logger.log_histogram(f"conductance/layer{i}", lyr.tile.conductances, pos)
        if image:
            hw = chip.layers[0].tile.hw.array
            G = chip.layers[0].tile.conductances
            logger.log_image("crossbar/layer0_dG", (G[0] - G[1])[:hw.rows, :hw.cols], pos)

    # ------------------------------------------------------------------ checkpoints
    def state(self) -> dict:
        """Everything needed to continue the loop, the chip included."""
        run = self.run
        metrics = run.run_dir / "metrics.jsonl"
        return {"kind": RUN_KIND, "config": run.recipe.to_yaml(), "position": self.pos,
                "steps": self.steps, "learned": self.learned, "pass": self.pass_index,
                "order": self.order.astype(np.int64), "learn": self.learn.astype(bool),
                "pending": np.asarray(self.pending, np.int64),
                "np_rng": self.rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                "chip": pm.chip_state(run.chip, run.rule), "preq": dict(self.preq),
                "window": dict(self.window), "costs": self.costs,
                "recent": np.asarray(self.recent, np.int64),
                "curves": {"eval_pos": np.asarray(self.curves["eval_pos"], np.int64),
                           "eval_acc": np.asarray(self.curves["eval_acc"], np.float64),
                           "preq_pos": np.asarray(self.curves["preq_pos"], np.int64),
                           "preq_acc": np.asarray(self.curves["preq_acc"], np.float64)},
                "accuracy": {k: v for k, v in run.acc.items()},
                "metrics_bytes": metrics.stat().st_size if metrics.exists() else 0,
                "threads": torch.get_num_threads(),
                "optimizer": {}}  # on-line rules keep their state in "chip/rule"

    def load(self, state: dict) -> None:
        """Continue from :meth:`state` (the chip is restored by the caller)."""
        self.pos, self.steps = int(state["position"]), int(state["steps"])
        self.learned, self.pass_index = int(state["learned"]), int(state["pass"])
        self.order = np.asarray(state["order"], np.int64)
        self.learn = np.asarray(state["learn"], bool)
        self.pending = [int(v) for v in np.asarray(state["pending"]).tolist()]
        self.rng.bit_generator.state = state["np_rng"]
        torch.set_rng_state(state["torch_rng"])
        self.preq = {k: int(v) for k, v in state["preq"].items()}
        self.window = dict(state["window"])
        self.recent = deque((int(v) for v in np.asarray(state["recent"]).tolist()),
                            maxlen=RECENT)
        self.costs = state["costs"]
        self.curves = {k: np.asarray(v).tolist() for k, v in state["curves"].items()}
        self.saved_pos = self.pos

    def checkpoint(self) -> None:
        """Write ``checkpoints/step_NNNNNN.h5`` and continue from what was written (a
        resumed run then continues from exactly the same state); keep the newest few."""
        run = self.run
        folder = run.run_dir / "checkpoints"
        path = folder / f"step_{self.steps:06d}.h5"
        ckpt.save(path, self.state())
        state = ckpt.load(path)
        pm.load_chip_state(run.chip, run.rule, state["chip"])
        self.load(state)
        log.debug("checkpoint %s (stream window %d)", path, self.pos)
        old = sorted(folder.glob("step_*.h5"))[:-KEEP_STEP_CHECKPOINTS]
        for p in old:
            if p != path:
                os.unlink(p)
