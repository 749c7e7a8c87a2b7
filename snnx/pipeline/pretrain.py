"""The pretraining phase of a run: off-chip (software) training on the source subjects.

:class:`Pretraining` trains the software network with plain torch (Adam, cross-entropy), or
loads ``pretrain.checkpoint`` (a model from ``snnx train`` or another run), or -- resuming --
the run's own ``checkpoints/pretrained.h5``; it writes that file (weights, data statistics,
optimiser, history) and measures the software accuracy on the held-out source windows and on
the target windows.

Hardware-aware training (``pretrain.qat_bits``, ``pretrain.noise_aware``): after the plain
epochs (or the loaded checkpoint), the plain model is measured -- in software and, through
the ``plain`` callback, deployed on the hardware -- as ``*_plain`` accuracies, then trained
``aware_epochs`` more epochs through the views of :mod:`snnx.nn.weight_views` (b-bit weights
and/or one noisy hardware read per forward pass), which are then baked in. The run thus
reports the same hardware with and without the aware training, from one plain model.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable

import torch

from snnx import checkpoint as ckpt
from snnx.config.seeds import derive
from snnx.nn import weight_views as views
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
        hw: the hardware model (noise-aware training reads its cells).
        plain: accuracies of the plain model deployed on the hardware (hardware-aware
            training only), e.g. ``{"deployed_plain": ..., "deployed_source_plain": ...}``.
    """

    def __init__(self, *, recipe: Any, net: Any, x: dict, y: dict, stats: tuple, logger: Any,
                 tb: Any, path: Path, metrics: Path, given: dict | None,
                 resume_from: int | None, hw: Any = None,
                 plain: Callable[[Any], dict] | None = None) -> None:
        self.recipe, self.net, self.x, self.y, self.stats = recipe, net, x, y, stats
        self.logger, self.tb, self.path, self.metrics = logger, tb, path, metrics
        self.given, self.resume_from = given, resume_from
        self.hw, self.plain = hw, plain

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
        p = r.pretrain
        before: dict = state.get("aware_plain", {}) if resumed else {}
        if (p.qat_bits is not None or p.noise_aware) and not resumed:
            before = {f"{k}_plain": v for k, v in self._software().items()}
            before.update(self.plain(self.net) if self.plain is not None else {})
            self._aware(history)
        if not resumed:
            mean, std = self.stats
            ckpt.save(self.path, {**pm.pretrained_state(self.net, r, mean, std, opt,
                                                        len(history["loss"]), history),
                                  "aware_plain": before, "threads": torch.get_num_threads(),
                                  "metrics_bytes": self.metrics.stat().st_size
                                  if self.metrics.exists() else 0})
        acc = {**self._software(), **before}
        log.info("software accuracy: %s on held-out source windows, %s on the target",
                 fmt_acc(acc["software"]), fmt_acc(acc["software_target"]))
        return acc, time.perf_counter() - t0

    def _software(self) -> dict:
        draws = self.recipe.eval.mc_draws if getattr(self.net, "stochastic", False) else 1
        return {"software": pm.accuracy(self.net, self.x["source_test"], self.y["source_test"],
                                        draws),
                "software_target": pm.accuracy(self.net, self.x["target_test"],
                                               self.y["target_test"], draws)}

    def _aware(self, history: dict) -> None:
        """``aware_epochs`` of QAT and/or noise-aware training, then the views baked in."""
        r = self.recipe
        p = r.pretrain
        views.attach(self.net, qat_bits=p.qat_bits, noise_hw=self.hw if p.noise_aware else None,
                     gen=torch.Generator().manual_seed(derive(r.seed, "pretrain.noise")))
        opt = torch.optim.Adam(self.net.parameters(), lr=p.lr, weight_decay=p.weight_decay)
        gen = torch.Generator().manual_seed(derive(r.seed, "pretrain.aware_order"))
        for epoch in range(p.aware_epochs):
            loss, acc = pm.train_epoch(self.net, opt, self.x["source_train"],
                                       self.y["source_train"], p.batch_size, gen)
            history["loss"].append(loss)
            history["accuracy"].append(acc)
            self.logger.log_dict({"pretrain/loss": loss, "pretrain/accuracy": acc},
                                 len(history["loss"]))
        views.bake(self.net)
        log.info("hardware-aware training: %d epochs (%s)", p.aware_epochs,
                 ", ".join(k for k, on in (("qat %d-bit" % (p.qat_bits or 0),
                                            p.qat_bits is not None),
                                           ("noise-aware", p.noise_aware)) if on))
