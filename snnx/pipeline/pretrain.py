"""The pretraining phase of a run: off-chip (software) training on the source subjects.

:class:`Pretraining` trains the software network with plain torch (Adam, cross-entropy), or
loads ``pretrain.checkpoint`` (a model from ``snnx train`` or another run), or -- resuming --
the run's own ``checkpoints/pretrained.h5``; it writes that file (weights, data statistics,
optimiser, history) and measures the software accuracy on the held-out source windows and on
the target windows.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import torch

from snnx import checkpoint as ckpt
from snnx.config.seeds import derive
from snnx.pipeline import model as pm
from snnx.pipeline.report import fmt_acc

log = logging.getLogger(__name__)


class Pretraining:
    """Software training of ``net`` (see module docstring).

    Args:
        recipe: the run's recipe (``pretrain`` and ``eval`` blocks, the seed).
        net: the software network.
        x, y: inputs and labels by split (``source_train``, ``source_test``, ``target_test``).
        stats: (mean, std) the data were standardised with (saved with the model).
        logger: the run's logger; ``tb``: its TensorBoard logger or None.
        path: the run's ``checkpoints/pretrained.h5``.
        metrics: the run's ``metrics.jsonl`` (its size is saved for a resume).
        given: a loaded ``pretrain.checkpoint`` or None.
        resume_from: first step to log again to TensorBoard when resuming, else None.
    """

    def __init__(self, *, recipe: Any, net: Any, x: dict, y: dict, stats: tuple, logger: Any,
                 tb: Any, path: Path, metrics: Path, given: dict | None,
                 resume_from: int | None) -> None:
        self.recipe, self.net, self.x, self.y, self.stats = recipe, net, x, y, stats
        self.logger, self.tb, self.path, self.metrics = logger, tb, path, metrics
        self.given, self.resume_from = given, resume_from

    def run(self) -> tuple[dict, float]:
        """Train (or load), save, measure. Returns (accuracies, seconds)."""
        from tqdm.auto import tqdm

        r, t0 = self.recipe, time.perf_counter()
        history: dict = {"loss": [], "accuracy": []}
        opt = None
        resumed = self.resume_from is not None and self.path.is_file()
        if resumed:
            state = ckpt.load(self.path)
            pm.load_pretrained(self.net, state, "--resume")
            history = state["history"]
            for epoch, (loss, acc) in enumerate(zip(history["loss"], history["accuracy"]), 1):
                if self.tb is not None and epoch >= self.resume_from:  # purged: log again
                    self.tb.log_dict({"pretrain/loss": loss, "pretrain/accuracy": acc}, epoch)
        elif self.given is not None:
            log.info("pretrained model: %s", r.pretrain.checkpoint)
            history = self.given.get("history", history)
        elif r.pretrain.epochs:
            opt = torch.optim.Adam(self.net.parameters(), lr=r.pretrain.lr,
                                   weight_decay=r.pretrain.weight_decay)
            gen = torch.Generator().manual_seed(derive(r.seed, "pretrain.order"))
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
        if not resumed:
            mean, std = self.stats
            ckpt.save(self.path, {**pm.pretrained_state(self.net, r, mean, std, opt,
                                                        len(history["loss"]), history),
                                  "threads": torch.get_num_threads(),
                                  "metrics_bytes": self.metrics.stat().st_size
                                  if self.metrics.exists() else 0})
        draws = r.eval.mc_draws if getattr(self.net, "stochastic", False) else 1
        acc = {"software": pm.accuracy(self.net, self.x["source_test"], self.y["source_test"],
                                       draws),
               "software_target": pm.accuracy(self.net, self.x["target_test"],
                                              self.y["target_test"], draws)}
        log.info("software accuracy: %s on held-out source windows, %s on the target",
                 fmt_acc(acc["software"]), fmt_acc(acc["software_target"]))
        return acc, time.perf_counter() - t0
