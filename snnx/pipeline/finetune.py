"""The fine-tuning phase: chip-in-the-loop corrections right after programming (METHODS.md
9, OpenMENA; recipe block ``finetune``, why a phase: :mod:`snnx.pipeline.recipe_realism`).

For every batch of source training windows (seeded order, ``finetune.epochs`` passes):

1. forward on the programmed chip (``model.record``: every read through the tiles, with
   their noise, converters and device state);
2. the output error ``e = dL/dlogits`` in software (the rule's loss), and each layer's error
   ``delta_l`` from the rule (``finetune.rule``: BP through transposed reads, DFA through its
   feedback tiles, ...);
3. corrections, by ``finetune.method``:

   * ``outer``: ``W_l <- W_l - lr delta_l^T x_l`` as device pulses (the rule's writes);
   * ``reprogram``: the same step on a digital copy of the targets (the software weights
     the chip was programmed with); after each epoch every tile is verify-read and only the
     cells off their target by more than ``finetune.threshold`` are re-written with the
     hardware model's programming scheme (:meth:`snnx.hw.Tile.reprogram`);
   * ``bias``: digital biases only (``b_l <- b_l - lr sum delta_l``), what the released
     OpenMENA demo trains.

   Biases are digital and follow the rule's ``update_bias`` in every method.

Everything, from the rule's feedback hardware to the last verify read, is booked to the
ledger account ``finetune``.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from snnx.config.schema import chosen
from snnx.config.seeds import derive
from snnx.learn import make_rule
from snnx.learn.rule import output_error

log = logging.getLogger(__name__)


def finetune(chip: Any, recipe: Any, x: torch.Tensor, y: torch.Tensor, logger: Any) -> dict:
    """Fine-tune ``chip`` in place on windows ``x`` (N, ...) with labels ``y`` (N,).

    Returns:
        The report block: method, rule, epochs, steps, per-epoch loss and accuracy (of the
        batches, before each correction) and the ledger account ``finetune``.
    """
    f = recipe.finetune
    rule = make_rule(f.rule, chosen(f, "rule"), lr=f.lr, seed=derive(recipe.seed, "finetune"))
    gen = torch.Generator().manual_seed(derive(recipe.seed, "finetune.order"))
    layers = list(chip.layers)
    targets = ([lyr.weight.detach().clone() for lyr in layers]
               if f.method == "reprogram" else None)
    history: dict = {"loss": [], "accuracy": [], "cells_rewritten": []}
    steps = 0
    with chip.ledger.charge("finetune"):
        rule.bind(chip)
        for epoch in range(f.epochs):
            perm = torch.randperm(len(x), generator=gen)
            loss = correct = 0.0
            for i in range(0, len(x), f.batch_size):
                idx = perm[i:i + f.batch_size]
                rec = chip.record(x[idx])
                e, m = output_error(rec.logits, y[idx], rule.loss)
                deltas = rule.deltas(chip, rec, e)
                if f.method == "outer":
                    rule.apply(chip, rec, deltas)
                else:
                    _digital_step(layers, rec, deltas, f.lr, rule.update_bias, targets)
                steps += 1
                loss += m["loss"] * len(idx)
                correct += m.get("accuracy", 0.0) * len(idx)
            rewritten = 0
            if targets is not None:
                with chip.ledger.parallel():  # every tile has its own write circuitry
                    for lyr, W in zip(layers, targets):
                        with chip.ledger.branch():
                            rewritten += lyr.tile.reprogram(W, f.threshold)
            history["loss"].append(loss / len(x))
            history["accuracy"].append(correct / len(x))
            history["cells_rewritten"].append(rewritten)
            logger.log_dict({"finetune/loss": loss / len(x),
                             "finetune/accuracy": correct / len(x)}, epoch + 1)
    log.info("fine-tuned on the chip: %d epochs, %d steps (%s)", f.epochs, steps, f.method)
    return {"method": f.method, "rule": f.rule, "epochs": f.epochs, "steps": steps,
            "history": history}


@torch.no_grad()
def _digital_step(layers: list, rec: Any, deltas: list, lr: float, update_bias: bool,
                  targets: list | None) -> None:
    """Biases (and, for ``reprogram``, the digital weight targets) take one SGD step."""
    for i, (lyr, d) in enumerate(zip(layers, deltas)):
        if update_bias and lyr.bias is not None:
            lyr.bias.sub_(lr * d.sum(0).to(lyr.bias.dtype))
        if targets is not None:
            targets[i] -= lr * (d.t() @ rec.inputs[i]).to(targets[i].dtype)
