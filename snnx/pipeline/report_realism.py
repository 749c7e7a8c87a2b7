"""report.json blocks of the device-realism options, and the drift figure.

* ``programming``: what writing the network onto the chip cost (the ledger account
  ``program``: pulses, pulse widths, verify reads, energy, latency) and how well it went
  (the fraction of cells the scheme left within its tolerance, when it tracks that: VIPI);
* ``finetune``: chip-in-the-loop fine-tuning (method, steps, the ledger account
  ``finetune``);
* ``hardware_aware``: QAT / noise-aware pretraining, the same hardware with the plain and
  with the aware model side by side, and the published figure they echo;
* ``drift``: accuracy versus time since programming (:mod:`snnx.pipeline.time_sweep`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: published figures the runs are compared with (never used in a computation)
REFERENCE = {
    "qat": {"source": "ASR paper (METHODS.md 5): Conformer on TED-LIUM v2, 3-bit, linear "
                      "layers analog", "relative_error_increase": 0.25},
    "noise_aware": {"source": "ReSNA (METHODS.md 4): ResNet20 / CIFAR-10, noise-aware vs "
                              "baseline configuration", "accuracy_gain": 0.0257},
}


def _cost(ledger: Any, account: str) -> dict:
    a = ledger.account(account)
    c = a["counts"]
    return {"energy_j": float(sum(a["energy"].values())), "latency_s": float(a["latency_s"]),
            "pulses": float(c.get("pulse", 0.0)), "verify_reads": float(c.get("verify_read", 0.0)),
            "cells_written": float(c.get("cells_written", 0.0)),
            "energy_by_op": dict(a["energy"])}


def rram_tile(layer: Any) -> Any:
    """The programmed RRAM :class:`~snnx.hw.Tile` of a layer (a rule may have put another
    weight store in front of it, e.g. log-domain SGD's capacitor array, ``.rram``)."""
    return getattr(layer.tile, "rram", layer.tile)


def programming_block(chip: Any, hw: Any) -> dict:
    """The ``programming`` block of a deployed chip (tiles' last full programming)."""
    import torch

    tiles = [rram_tile(lyr) for lyr in chip.layers]
    stats = [t.last_program for t in tiles]
    cells = sum(t.conductances.numel() for t in tiles)
    out = {"scheme": hw.programming.scheme, "cells": int(cells), **_cost(chip.ledger, "program"),
           "pulse_equivalents": None, "iterations": max((s.iterations for s in stats if s),
                                                        default=0),
           "converged_fraction": None, "converged_fraction_healthy": None}
    if all(s is not None and s.pulse_equivalents is not None for s in stats):
        out["pulse_equivalents"] = float(sum(s.pulse_equivalents for s in stats))
    if all(s is not None and s.converged is not None for s in stats):
        conv = sum(int(s.converged.sum()) for s in stats)
        healthy = conv_h = 0
        for t, s in zip(tiles, stats):
            f = t.faults
            ok = torch.ones_like(s.converged) if f is None else ~(f[0] | f[1])
            healthy += int(ok.sum())
            conv_h += int((s.converged & ok).sum())
        out["converged_fraction"] = conv / cells
        out["converged_fraction_healthy"] = conv_h / max(healthy, 1)
    return out


def finetune_block(info: Mapping[str, Any], ledger: Any) -> dict:
    """The ``finetune`` block: the phase's summary plus its ledger account."""
    return {**info, **_cost(ledger, "finetune")}


def _error_increase(err: float | None, ref: float | None) -> float | None:
    if err is None or ref is None or ref <= 0:
        return None
    return (err - ref) / ref


def hardware_aware_block(recipe: Any, acc: Mapping[str, Any]) -> dict:
    """The ``hardware_aware`` block: plain vs aware model on the same hardware.

    ``relative_error_increase`` compares the deployed model's error on the held-out source
    windows with the plain software model's error there (the ASR paper's "relative WER
    increase" of a 3-bit analog model over the float one); ``deployed_gain`` is the
    deployed target accuracy of the aware model minus that of the plain one (ReSNA's gain).
    """
    p = recipe.pretrain
    err = {k: (None if acc.get(k) is None else 1.0 - acc[k])
           for k in ("software_plain", "deployed_source_plain", "deployed_source")}
    out = {"qat_bits": p.qat_bits, "noise_aware": p.noise_aware,
           "aware_epochs": p.aware_epochs,
           "plain": {k: acc.get(f"{k}_plain") for k in ("software", "software_target",
                                                          "deployed", "deployed_source")},
           "aware": {k: acc.get(k) for k in ("software", "software_target", "deployed",
                                              "deployed_source")},
           "relative_error_increase": {
               "plain": _error_increase(err["deployed_source_plain"], err["software_plain"]),
               "aware": _error_increase(err["deployed_source"], err["software_plain"])},
           "deployed_gain": None if acc.get("deployed_plain") is None else
           acc["deployed"] - acc["deployed_plain"],
           "reference": {k: v for k, v in REFERENCE.items()
                         if (k == "qat" and p.qat_bits) or (k == "noise_aware"
                                                            and p.noise_aware)}}
    return out


def drift_table(block: Mapping[str, Any]) -> list[str]:
    """The drift block as text lines (time, deployed, adapted, steps)."""
    lines = [f"{'time':>10} {'deployed':>9} {'adapted':>9} {'steps':>6}"]
    for lab, d, a, s in zip(block["labels"], block["deployed"], block["adapted"],
                            block["steps"]):
        lines.append(f"{lab:>10} {100 * d:8.1f}% {100 * a:8.1f}% {s:6d}")
    return lines
