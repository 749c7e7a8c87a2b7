"""The on-line phase of a run: the target stream, predict first, learn second, checkpoints.

:class:`OnlineLoop` owns every counter of the adaptation phase and nothing else: stream
position, on-chip steps, the pass's order and learn mask (drawn from one numpy generator at
the start of each pass), the windows waiting for a learning batch, the prequential counts
and the curves. It gets what it needs -- the chip, the rule, the stream, the logger, a
held-out measurement and a checkpoint writer -- not the whole run. :meth:`OnlineLoop.state`
/ :meth:`OnlineLoop.load` move its counters through a checkpoint (the chip and its ledger
travel in the same file).

``adapt/accuracy`` is the prequential accuracy of the last :data:`RECENT` windows (each
predicted before it was learnt from), ``adapt/accuracy_cumulative`` that of the whole stream.

Costs: each prediction is booked to the ledger account ``infer``, each rule step to
``learn``, the rule's one-off hardware set-up to ``setup``
(:meth:`~snnx.hw.ledger.CostLedger.charge`).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from snnx.config.seeds import sequence
from snnx.pipeline import model as pm
from snnx.pipeline.data import label_mask, stream_order

log = logging.getLogger(__name__)

RECENT = 50
"""Windows in the moving prequential accuracy (``adapt/accuracy``)."""


class OnlineLoop:
    """Prequential on-line adaptation of ``chip`` with ``rule`` on a target stream.

    Args:
        recipe: the run's recipe (``adapt``, ``eval``, ``monitor`` blocks and the seed).
        chip: the deployed network on tiles (its ledger books every cost).
        rule: the on-line rule.
        stream: (x, y) of the target stream in base order, and its arrival-order dataset
            (for the ``bouts`` order) as ``data``.
        labelled: (n,) bool, which stream windows carry a label.
        logger: a :class:`~snnx.monitor.MetricLogger`.
        measure: held-out target accuracy of the chip now (no side effects).
        save: writes a checkpoint of the given loop state and returns what was written
            (the loop continues from that, so a resumed run continues identically).
    """

    def __init__(self, *, recipe: Any, chip: Any, rule: Any, stream: tuple, data: Any,
                 labelled: np.ndarray, logger: Any, measure: Callable[[], float],
                 save: Callable[[dict], dict]) -> None:
        self.recipe, self.chip, self.rule = recipe, chip, rule
        self.x, self.y = stream
        self.data, self.labelled, self.logger = data, labelled, logger
        self.measure, self.save = measure, save
        self.n_stream = len(data)
        self.total = self.n_stream * recipe.adapt.passes
        self.pos = self.steps = self.learned = 0
        self.pass_index = -1
        self.order = np.arange(self.n_stream, dtype=np.int64)
        self.learn_mask = np.ones(self.n_stream, bool)
        self.pending: list[int] = []
        self.rng = np.random.default_rng(sequence(recipe.seed, "loop.passes"))
        self.preq = {"correct": 0, "seen": 0}
        self.recent: deque[int] = deque(maxlen=RECENT)
        self.loss_sum = {"loss": 0.0, "losses": 0}
        self.curves: dict[str, list] = {"eval_pos": [], "eval_acc": [], "preq_pos": [],
                                        "preq_acc": []}
        self.saved_pos = -1

    # ------------------------------------------------------------------ phases
    def start(self, deployed: float) -> None:
        """Fresh run: build the rule's hardware (booked as set-up), log the starting point."""
        with self.chip.ledger.charge("setup"):
            self.rule.bind(self.chip)
        self.curves["eval_pos"].append(0)
        self.curves["eval_acc"].append(deployed)
        self.logger.log("eval/accuracy", deployed, 0)
        self._pictures(0)

    def stream(self) -> None:
        """Stream until every pass is done (continues where a checkpoint left off)."""
        from tqdm.auto import tqdm

        r, led = self.recipe, self.chip.ledger
        every = r.monitor.checkpoint_every
        bar = tqdm(total=self.total, initial=self.pos, desc=f"adapt ({r.adapt.rule})",
                   unit="win", disable=None, leave=False)
        while self.pos < self.total:
            p, i = divmod(self.pos, self.n_stream)
            if p != self.pass_index:
                self._new_pass(p)
            j = int(self.order[i])
            with led.charge("infer"):
                pred = int(pm.logits_of(self.chip, self.x[j:j + 1]).argmax(1))
            hit = int(pred == int(self.y[j]))
            self.preq["correct"] += hit
            self.preq["seen"] += 1
            self.recent.append(hit)
            self.pos += 1
            if self.labelled[j] and self.learn_mask[i]:
                self.pending.append(j)
            stepped = len(self.pending) >= r.adapt.batch_size or (
                self.pos == self.total and bool(self.pending))
            if stepped:
                self._step()
            self._after_window(bar)
            if stepped and every and self.steps % every == 0:
                self.checkpoint()
            bar.update(1)
        bar.close()
        if self.saved_pos != self.pos:
            self.checkpoint()
        self._evaluate(self.pos)  # after the reload: what `snnx eval` measures on the file

    def _new_pass(self, p: int) -> None:
        a = self.recipe.adapt
        self.order = stream_order(self.data, a.stream_order, self.rng)
        self.learn_mask = label_mask(self.n_stream, a.label_rate, self.rng)
        self.pass_index = p

    def _step(self) -> None:
        idx = torch.tensor(self.pending, dtype=torch.int64)
        self.pending = []
        with self.chip.ledger.charge("learn"):
            out = self.rule.step(self.chip, self.x[idx], self.y[idx])
        self.steps += 1
        self.learned += len(idx)
        self.loss_sum["loss"] += float(out["loss"])
        self.loss_sum["losses"] += 1

    def _after_window(self, bar: Any) -> None:
        mon, pos = self.recipe.monitor, self.pos
        end = pos == self.total
        if pos % mon.log_every == 0 or end:
            led = self.chip.ledger
            learn, infer = led.account("learn"), led.account("infer")
            acc = sum(self.recent) / len(self.recent)
            metrics = {"adapt/accuracy": acc,
                       "adapt/accuracy_cumulative": self.preq["correct"] / self.preq["seen"],
                       "adapt/steps": self.steps, "adapt/learned": self.learned,
                       "hw/energy_j": sum(learn["energy"].values()),
                       "hw/latency_s": learn["latency_s"],
                       "hw/pulses": learn["counts"].get("pulse", 0.0),
                       "hw/inference_energy_j": sum(infer["energy"].values())}
            if self.loss_sum["losses"]:
                metrics["adapt/loss"] = self.loss_sum["loss"] / self.loss_sum["losses"]
            self.logger.log_dict(metrics, pos)
            self.curves["preq_pos"].append(pos)
            self.curves["preq_acc"].append(acc)
            self.loss_sum = {"loss": 0.0, "losses": 0}
            bar.set_postfix(acc=f"{self.preq['correct'] / self.preq['seen']:.3f}",
                            steps=self.steps)
        every = self.recipe.eval.every
        if every and pos % every == 0 and not end:
            self._evaluate(pos)
        hist = mon.histograms_every
        if (hist and pos % hist == 0) or end:
            self._pictures(pos, image=end)

    def _evaluate(self, pos: int) -> None:
        acc = self.measure()
        self.curves["eval_pos"].append(pos)
        self.curves["eval_acc"].append(acc)
        self.logger.log("eval/accuracy", acc, pos)

    def _pictures(self, pos: int, image: bool = True) -> None:
        """Conductance histograms of every tile; a heatmap of layer 0's first array."""
        for i, lyr in enumerate(self.chip.layers):
            self.logger.log_histogram(f"conductance/layer{i}", lyr.tile.conductances, pos)
        if image:
            a = self.chip.layers[0].tile.hw.array
            G = self.chip.layers[0].tile.conductances
            self.logger.log_image("crossbar/layer0_dG", (G[0] - G[1])[:a.rows, :a.cols], pos)

    # ------------------------------------------------------------------ checkpoints
    def state(self) -> dict:
        """The loop's counters (the chip travels beside them, see :meth:`checkpoint`)."""
        return {"position": self.pos, "steps": self.steps, "learned": self.learned,
                "pass": self.pass_index, "order": self.order.astype(np.int64),
                "learn": self.learn_mask.astype(bool),
                "pending": np.asarray(self.pending, np.int64),
                "np_rng": self.rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                "preq": dict(self.preq), "window": dict(self.loss_sum),
                "recent": np.asarray(self.recent, np.int64),
                "curves": {"eval_pos": np.asarray(self.curves["eval_pos"], np.int64),
                           "eval_acc": np.asarray(self.curves["eval_acc"], np.float64),
                           "preq_pos": np.asarray(self.curves["preq_pos"], np.int64),
                           "preq_acc": np.asarray(self.curves["preq_acc"], np.float64)}}

    def load(self, state: dict) -> None:
        """Continue from :meth:`state` (the chip is restored by the caller)."""
        self.pos, self.steps = int(state["position"]), int(state["steps"])
        self.learned, self.pass_index = int(state["learned"]), int(state["pass"])
        self.order = np.asarray(state["order"], np.int64)
        self.learn_mask = np.asarray(state["learn"], bool)
        self.pending = [int(v) for v in np.asarray(state["pending"]).tolist()]
        self.rng.bit_generator.state = state["np_rng"]
        torch.set_rng_state(state["torch_rng"])
        self.preq = {k: int(v) for k, v in state["preq"].items()}
        self.loss_sum = dict(state["window"])
        self.recent = deque((int(v) for v in np.asarray(state["recent"]).tolist()),
                            maxlen=RECENT)
        self.curves = {k: np.asarray(v).tolist() for k, v in state["curves"].items()}
        self.saved_pos = self.pos

    def checkpoint(self) -> None:
        """Write a checkpoint and continue from what was written (a resumed run then
        continues from exactly the same state)."""
        self.load(self.save(self.state()))
        log.debug("checkpoint at stream window %d", self.pos)
