"""The pretraining phase of a run: off-chip (software) training on the source subjects.

:class:`Pretraining` trains the software network with plain torch (Adam, cross-entropy), or
loads ``pretrain.checkpoint`` (a model from ``snnx train`` or another run), or -- resuming --
the run's own ``checkpoints/pretrained.h5``; it writes that file (weights, data statistics,
optimiser, history, summary) and measures the software accuracy on the held-out source
windows and on the target windows.

**Budget.** Training runs for a number of optimiser steps (mini-batches of
``pretrain.batch_size`` windows), not of epochs, so that a small data set is not trained
for a handful of steps only:

    budget = max(pretrain.steps, pretrain.epochs * ceil(N_train / batch_size))

``steps`` is the floor that holds whatever the data size; ``epochs`` (default 0) asks for
at least that many passes over a large set. Each pass visits the windows in a fresh seeded
order; the last pass may stop part-way.

**Validation and early stopping.** With ``pretrain.val_fraction`` > 0 the data phase holds
out whole bouts of the source training windows (:mod:`snnx.pipeline.data`). Every
``pretrain.val_every`` steps (and at the end) the network is measured on them (loss and
accuracy, without touching its random state); the weights of the best validation
(``pretrain.early_stop_on``: lowest loss, or highest accuracy with ties broken by the loss)
are kept and restored at the end, and training stops once validation has not improved for
``pretrain.patience`` steps. This is early stopping as in Prechelt, "Early stopping -- but
when?", Neural Networks: Tricks of the Trade, 1998.

**Near chance.** After training, a software accuracy below ``min(1.5 c, (1 + c) / 2)``, with
``c`` the largest class share of the held-out source windows (1/classes when balanced),
logs a warning and sets ``pretrain.near_chance`` in report.json: whatever happens on the
chip afterwards then measures a network that has not learnt the task.

**Hardware-aware training** (``pretrain.qat_bits``, ``pretrain.noise_aware``): after the
plain budget (or the loaded checkpoint), the plain model is measured -- in software and,
through the ``plain`` callback, deployed on the hardware -- as ``*_plain`` accuracies, then
trained ``aware_epochs`` more epochs through the views of :mod:`snnx.nn.weight_views`
(b-bit weights and/or one noisy hardware read per forward pass), which are then baked in.
The run thus reports the same hardware with and without the aware training, from one plain
model.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from snnx import checkpoint as ckpt
from snnx.config.seeds import derive
from snnx.nn import weight_views as views
from snnx.nn.optim import Adam
from snnx.pipeline import model as pm
from snnx.pipeline.report import fmt_acc

log = logging.getLogger(__name__)

NEAR_CHANCE_FACTOR = 1.5
"""Software accuracy below this multiple of chance (capped halfway to 100 %) is flagged."""

_VAL_CHUNK = 512  # windows per forward pass of a validation


def budget(cfg: Any, n_train: int) -> tuple[int, int]:
    """(optimiser steps, steps per epoch) of ``pretrain`` block ``cfg`` on ``n_train`` windows.

    Example:
        >>> from types import SimpleNamespace as NS
        >>> budget(NS(steps=600, epochs=10, batch_size=64), 180)   # a small set
        (600, 3)
        >>> budget(NS(steps=600, epochs=30, batch_size=64), 2169)  # epochs win on a big one
        (1020, 34)
    """
    per_epoch = max(1, math.ceil(n_train / cfg.batch_size)) if n_train else 0
    return max(cfg.steps, cfg.epochs * per_epoch) if n_train else 0, per_epoch


def chance_level(y: torch.Tensor) -> float:
    """Accuracy of always answering the most frequent class of labels ``y``."""
    return float(torch.bincount(y).max()) / len(y) if len(y) else 0.0


def near_chance(acc: float, chance: float) -> bool:
    """True when ``acc`` is below ``min(1.5 chance, (1 + chance) / 2)`` (module docstring)."""
    return acc < min(NEAR_CHANCE_FACTOR * chance, 0.5 * (1.0 + chance))


@torch.no_grad()
def validate(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of a software network on ``x``, without side effects
    on its random state (:func:`snnx.pipeline.model.isolated`)."""
    was_training = net.training
    net.eval()
    loss, hits = 0.0, 0
    with pm.isolated(net):
        for i in range(0, len(x), _VAL_CHUNK):
            logits = net(x[i:i + _VAL_CHUNK])
            loss += float(F.cross_entropy(logits, y[i:i + _VAL_CHUNK], reduction="sum"))
            hits += int((logits.argmax(1) == y[i:i + _VAL_CHUNK]).sum())
    net.train(was_training)
    return loss / len(x), hits / len(x)


def _score(loss: float, acc: float, on: str) -> tuple:
    return (-loss,) if on == "loss" else (acc, -loss)


def fit(net: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
        val: tuple[torch.Tensor, torch.Tensor] | None, cfg: Any, gen: torch.Generator,
        on_record: Any = None) -> tuple[dict, dict]:
    """Train ``net`` for the step budget of ``cfg`` with early stopping (module docstring).

    Args:
        net, opt: the software network and its optimiser.
        x, y: (N, ...) training inputs and (N,) labels.
        val: (inputs, labels) of the validation windows, or None.
        cfg: the recipe's ``pretrain`` block.
        gen: generator of the mini-batch order.
        on_record: called with each history record (a dict with ``step``, ``loss``,
            ``accuracy``, ``val_loss``, ``val_accuracy``).

    Returns:
        (history, summary): history = lists by key of the records; summary = steps run,
        budget, steps per epoch, whether training stopped early, the best validation step
        and its loss and accuracy (None without validation).
    """
    from tqdm.auto import tqdm

    total, per_epoch = budget(cfg, len(x))
    history: dict = {"step": [], "loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
    best: dict = {"score": None, "step": None, "state": None, "loss": None, "accuracy": None}
    step, stop = 0, False
    run_loss, run_hits, run_n = 0.0, 0, 0
    bar = tqdm(total=total, desc="pretrain", unit="step", disable=None, leave=False)
    net.train()
    while step < total and not stop:
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), cfg.batch_size):
            idx = perm[i:i + cfg.batch_size]
            batch_loss, hits = pm.train_batch(net, opt, x[idx], y[idx])
            step += 1
            run_loss += batch_loss
            run_hits += hits
            run_n += len(idx)
            bar.update(1)
            if step % cfg.val_every == 0 or step == total:
                rec = {"step": step, "loss": run_loss / run_n, "accuracy": run_hits / run_n,
                       "val_loss": None, "val_accuracy": None}
                run_loss, run_hits, run_n = 0.0, 0, 0
                if val is not None:
                    rec["val_loss"], rec["val_accuracy"] = validate(net, *val)
                    score = _score(rec["val_loss"], rec["val_accuracy"], cfg.early_stop_on)
                    if best["score"] is None or score > best["score"]:
                        best.update(score=score, step=step, state=copy.deepcopy(
                            net.state_dict()), loss=rec["val_loss"],
                            accuracy=rec["val_accuracy"])
                    stop = cfg.patience > 0 and step - best["step"] >= cfg.patience
                for key, value in rec.items():
                    history[key].append(value)
                bar.set_postfix(loss=f"{rec['loss']:.3f}", val=f"{rec['val_accuracy'] or 0:.3f}")
                if on_record is not None:
                    on_record(rec)
            if step >= total or stop:
                break
    bar.close()
    if best["state"] is not None:
        net.load_state_dict(best["state"])
    net.eval()
    summary = {"steps": step, "budget": total, "steps_per_epoch": per_epoch,
               "epochs": round(step / per_epoch, 3) if per_epoch else 0.0,
               "stopped_early": bool(stop and step < total),
               "val_windows": 0 if val is None else len(val[1]),
               "early_stop_on": cfg.early_stop_on, "best_step": best["step"],
               "val_loss": best["loss"], "val_accuracy": best["accuracy"]}
    return history, summary


class Pretraining:
    """Software training of ``net`` (see module docstring).

    Args:
        recipe: the run's recipe (``pretrain`` and ``eval`` blocks, the seed).
        net: the software network.
        x, y: inputs and labels by split (``source_train``, ``source_test``, ``target_test``,
            and ``source_val`` when pretraining holds out validation windows).
        stats: (mean, std) the data were standardised with (saved with the model).
        logger: the run's logger; ``tb``: its TensorBoard logger or None.
        path: the run's ``checkpoints/pretrained.h5``.
        metrics: the run's ``metrics.jsonl`` (its size is saved for a resume).
        given: a loaded ``pretrain.checkpoint`` or None.
        resume_from: first step to log again to TensorBoard when resuming, else None.
        hw: the hardware model (noise-aware training reads its cells).
        plain: accuracies of the plain model deployed on the hardware (hardware-aware
            training only), e.g. ``{"deployed_plain": ..., "deployed_source_plain": ...}``.

    After :meth:`run`, :attr:`summary` holds report.json's ``pretrain`` block.
    """

    def __init__(self, *, recipe: Any, net: Any, x: dict, y: dict, stats: tuple, logger: Any,
                 tb: Any, path: Path, metrics: Path, given: dict | None,
                 resume_from: int | None, hw: Any = None,
                 plain: Callable[[Any], dict] | None = None) -> None:
        self.recipe, self.net, self.x, self.y, self.stats = recipe, net, x, y, stats
        self.logger, self.tb, self.path, self.metrics = logger, tb, path, metrics
        self.given, self.resume_from = given, resume_from
        self.hw, self.plain = hw, plain
        self.summary: dict = {}

    def _log(self, logger: Any, rec: dict) -> None:
        scalars = {"pretrain/loss": rec["loss"], "pretrain/accuracy": rec["accuracy"]}
        if rec["val_loss"] is not None:
            scalars.update({"pretrain/val_loss": rec["val_loss"],
                            "pretrain/val_accuracy": rec["val_accuracy"]})
        logger.log_dict(scalars, rec["step"])

    def run(self) -> tuple[dict, float]:
        """Train (or load), save, measure. Returns (accuracies, seconds)."""
        r, t0 = self.recipe, time.perf_counter()
        opt = None
        resumed = self.resume_from is not None and self.path.is_file()
        if resumed:
            state = ckpt.load(self.path)
            pm.load_pretrained(self.net, state, "--resume")
            history, summary = state["history"], dict(state.get("pretrain") or {})
            for i, step in enumerate(history.get("step", [])):
                if self.tb is not None and step >= self.resume_from:  # purged: log again
                    self._log(self.tb, {k: v[i] for k, v in history.items()})
        elif self.given is not None:
            log.info("pretrained model: %s", r.pretrain.checkpoint)
            history = self.given.get("history", {})
            summary = {"checkpoint": str(r.pretrain.checkpoint), "steps": 0}
        else:
            opt = Adam(self.net.parameters(), lr=r.pretrain.lr,
                       weight_decay=r.pretrain.weight_decay)
            gen = torch.Generator().manual_seed(derive(r.seed, "pretrain.order"))
            val = (self.x["source_val"], self.y["source_val"]) if "source_val" in self.x \
                else None
            history, summary = fit(self.net, opt, self.x["source_train"],
                                   self.y["source_train"], val, r.pretrain, gen,
                                   lambda rec: self._log(self.logger, rec))
            if summary["steps"]:
                log.info("pretrained %d optimiser steps (%.3g epochs)%s%s", summary["steps"],
                         summary["epochs"], ", stopped early" if summary["stopped_early"]
                         else "", "" if summary["best_step"] is None else
                         f"; kept step {summary['best_step']} (validation accuracy "
                         f"{fmt_acc(summary['val_accuracy'])}, loss {summary['val_loss']:.3f})")
        self.net.eval()
        p = r.pretrain
        before: dict = state.get("aware_plain", {}) if resumed else {}
        if (p.qat_bits is not None or p.noise_aware) and not resumed:
            before = {f"{k}_plain": v for k, v in self._software().items()}
            before.update(self.plain(self.net) if self.plain is not None else {})
            self._aware(history)
        acc = {**self._software(), **before}
        if not resumed:
            summary.update(self._chance(acc["software"]))
            mean, std = self.stats
            ckpt.save(self.path, {**pm.pretrained_state(self.net, r, mean, std, opt,
                                                        summary.get("steps", 0), history),
                                  "pretrain": summary, "aware_plain": before,
                                  "threads": torch.get_num_threads(),
                                  "metrics_bytes": self.metrics.stat().st_size
                                  if self.metrics.exists() else 0})
        elif summary.get("warning"):
            log.warning("%s", summary["warning"])
        self.summary = summary
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
        opt = Adam(self.net.parameters(), lr=p.lr, weight_decay=p.weight_decay)
        gen = torch.Generator().manual_seed(derive(r.seed, "pretrain.aware_order"))
        step = int(history["step"][-1]) if history.get("step") else 0
        for _ in range(p.aware_epochs):
            loss, acc = pm.train_epoch(self.net, opt, self.x["source_train"],
                                       self.y["source_train"], p.batch_size, gen)
            step += -(-len(self.x["source_train"]) // p.batch_size)
            rec = {"step": step, "loss": loss, "accuracy": acc, "val_loss": None,
                   "val_accuracy": None}
            for k, v in rec.items():
                history.setdefault(k, []).append(v)
            self._log(self.logger, rec)
        views.bake(self.net)
        log.info("hardware-aware training: %d epochs (%s)", p.aware_epochs,
                 ", ".join(k for k, on in (("qat %d-bit" % (p.qat_bits or 0),
                                            p.qat_bits is not None),
                                           ("noise-aware", p.noise_aware)) if on))

    def _chance(self, software: float) -> dict:
        """The near-chance check of the module docstring (logs the warning)."""
        chance = chance_level(self.y["source_test"])
        flag = near_chance(software, chance)
        warning = None
        if flag:
            warning = (f"software accuracy {fmt_acc(software)} is near chance ({fmt_acc(chance)}"
                       f", the largest class share of the held-out source windows): the "
                       f"network has not learnt the task; raise pretrain.steps, lower "
                       f"pretrain.lr or check the data and labels")
            log.warning("pretraining: %s", warning)
        return {"chance": chance, "near_chance": flag, "warning": warning}
