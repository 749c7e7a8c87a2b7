"""Network-level evaluation of binary/ternary nets on CIM-Explorer crossbars (METHODS.md 6).

:func:`evaluate_crossbar` runs every layer of a trained :class:`~snnx.nn.binary.BNN`
through a mapping mode (:mod:`snnx.nn.binary_map`): one programming per layer (D2D draws
from one generator), ADC range factor alpha calibrated per layer on calibration inputs that
flow through the same hardware, thresholds folded from the BatchNorms. The first layer is on
the crossbar too (its inputs are binarised pixels); a layer can stay digital (mode None).
:func:`accuracy_table` sweeps mode x ADC bits x sigma_H x seed and returns rows (dicts);
:func:`summarize`, :func:`write_csv` and :func:`plot_accuracy` turn them into a table,
a CSV file and a PNG figure.

Example:
    >>> import torch
    >>> from snnx.nn.binary import BNN
    >>> net = BNN((8, 6, 3), seed=0).eval()
    >>> x = torch.where(torch.rand(4, 8) > 0.5, 1, -1)
    >>> res = evaluate_crossbar(net, x, torch.zeros(4, dtype=torch.long), mode="bnn_vi")
    >>> res["counts"]["cells"]  # 4 cells per weight, 8*6 + 6*3 weights
    264
"""

from __future__ import annotations

import csv
import math
import os
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Iterable, Sequence

import torch

from snnx.errors import ConfigError, ShapeError
from snnx.nn.binary import BNN
from snnx.nn.binary_map import (MODES, BinaryCell, calibrate_alpha, cim_matmul, map_layer,
                                program_currents)

ADC_BITS = (3, 4, 5, 6, 8, None)
SIGMA_H = (0.0, 1e-6, 2e-6, 4e-6, 8e-6)


def modes_for(net: BNN) -> list[str]:
    """Modes whose value sets fit the net: ``bnn_*`` for binary, ``tnn_*`` for ternary."""
    kind = "bnn" if net.kind == "binary" else "tnn"
    return [m for m, s in MODES.items() if s.kind == kind]


def evaluate_crossbar(net: BNN, x: torch.Tensor, y: torch.Tensor, *,
                      mode: str | Sequence[str | None] | None,
                      adc_bits: int | None = None, sigma_h: float = 0.0,
                      sigma_l: float = 0.0, gen: torch.Generator | None = None,
                      x_cal: torch.Tensor | None = None, quantile: float = 0.999,
                      cell: BinaryCell | None = None) -> dict:
    """Accuracy of ``net`` with its layers on crossbars.

    Args:
        net: trained BNN (eval mode; its BatchNorms fold into integer thresholds).
        x: (B, n_in) encoded integer inputs; y: (B,) labels.
        mode: one mode for every layer, or one per layer (None = that layer digital).
        adc_bits: ADC resolution (None = ideal ADC).
        sigma_h, sigma_l: D2D current spread in A (HRS / LRS), one draw per layer from
            ``gen``.
        x_cal: (B_cal, n_in) calibration inputs for alpha (default: x itself); ignored with
            an ideal ADC.
        quantile: profiled-current quantile that sets alpha (:func:`calibrate_alpha`).
        cell: HRS/LRS currents.

    Returns:
        dict with ``accuracy``, ``alphas`` (per mapped layer), ``counts`` (per inference:
        cells, adc_conversions, cycles summed over layers) and ``layers`` (counts per layer).
    """
    n_layers = len(net.layers)
    modes = [mode] * n_layers if mode is None or isinstance(mode, str) else list(mode)
    if len(modes) != n_layers:
        raise ConfigError(f"mode: need {n_layers} entries (one per layer), got {len(modes)}")
    if x.dim() != 2 or y.shape != x.shape[:1]:
        raise ShapeError(f"y: expected ({x.shape[0]},) labels for x {tuple(x.shape)}, "
                         f"got {tuple(y.shape)}")
    gen = gen if gen is not None else torch.Generator().manual_seed(0)
    cal = x if x_cal is None or adc_bits is None else x_cal
    n_cal = 0 if cal is x else cal.shape[0]
    h0 = x if cal is x else torch.cat([cal.to(x.dtype), x])
    weights = net.weights_int()
    alphas, layers = [], []

    def matmul(i: int, h: torch.Tensor) -> torch.Tensor:
        if modes[i] is None:
            layers.append({"mode": "digital"})
            return h.to(torch.float64) @ weights[i].T.to(torch.float64)
        mapped = map_layer(weights[i], modes[i], cell)
        currents = program_currents(mapped, sigma_h=sigma_h, sigma_l=sigma_l, gen=gen)
        hc = h if n_cal == 0 else h[:n_cal]
        alpha = 1.0 if adc_bits is None else calibrate_alpha(hc, mapped, currents,
                                                             quantile=quantile)
        out, counts = cim_matmul(h, mapped, currents=currents, adc_bits=adc_bits,
                                 alpha=alpha)
        alphas.append(alpha)
        layers.append(dict(counts, mode=modes[i]))
        return out

    with torch.no_grad():
        logits = net.integer_forward(h0, matmul)[n_cal:]
    acc = float((logits.argmax(1) == y).double().mean())
    keys = ("cells", "adc_conversions", "cycles")
    total = {k: sum(lyr.get(k, 0) for lyr in layers) for k in keys}
    return {"accuracy": acc, "alphas": alphas, "counts": total, "layers": layers}


def accuracy_table(net: BNN, x: torch.Tensor, y: torch.Tensor, *,
                   x_cal: torch.Tensor | None = None, modes: Iterable[str] | None = None,
                   adc_bits: Iterable[int | None] = ADC_BITS,
                   sigma_h: Iterable[float] = SIGMA_H, sigma_l: float = 0.0,
                   seeds: Iterable[int] = (0,), quantile: float = 0.999,
                   cell: BinaryCell | None = None, tag: str = "") -> list[dict]:
    """Accuracy over mode x ADC bits x sigma_H x seed (every layer in the same mode).

    The seed drives the variation draws (``torch.Generator().manual_seed(seed)``); with
    ``sigma_h = sigma_l = 0`` the seed changes nothing.

    Returns:
        One dict per point: net (``tag`` or the net kind), mode, adc_bits (None = ideal),
        sigma_h (A), sigma_h_uA, sigma_l (A), seed, accuracy, cells, cycles,
        adc_conversions (per inference) and the per-layer alphas.
    """
    rows = []
    for m in (modes_for(net) if modes is None else list(modes)):
        for b in adc_bits:
            for s in sigma_h:
                for seed in seeds:
                    res = evaluate_crossbar(net, x, y, mode=m, adc_bits=b, sigma_h=s,
                                            sigma_l=sigma_l, x_cal=x_cal, quantile=quantile,
                                            cell=cell,
                                            gen=torch.Generator().manual_seed(seed))
                    rows.append({"net": tag or net.kind, "mode": m, "adc_bits": b,
                                 "sigma_h": s, "sigma_h_uA": round(s * 1e6, 6),
                                 "sigma_l": sigma_l, "seed": seed,
                                 "accuracy": res["accuracy"], **res["counts"],
                                 "alphas": " ".join(f"{a:.3f}" for a in res["alphas"])})
    return rows


def summarize(rows: Sequence[dict]) -> list[dict]:
    """Mean, sample standard deviation and count of accuracy per (net, mode, bits, sigma)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["net"], r["mode"], r["adc_bits"], r["sigma_h"])].append(r)
    out = []
    for (net, mode, bits, s), rs in groups.items():
        acc = [r["accuracy"] for r in rs]
        out.append({"net": net, "mode": mode, "adc_bits": bits, "sigma_h": s,
                    "sigma_h_uA": rs[0]["sigma_h_uA"], "mean": statistics.fmean(acc),
                    "std": statistics.stdev(acc) if len(acc) > 1 else 0.0, "n": len(acc),
                    "cells": rs[0].get("cells"), "cycles": rs[0].get("cycles"),
                    "adc_conversions": rs[0].get("adc_conversions")})
    return out


def write_csv(rows: Sequence[dict], path: str | os.PathLike) -> Path:
    """Write rows (dicts with the same keys) as CSV; None is written as ``ideal``."""
    if not rows:
        raise ConfigError("rows: nothing to write")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({k: "ideal" if v is None else v for k, v in r.items()})
    return path


def plot_accuracy(summary: Sequence[dict], path: str | os.PathLike, *,
                  sigma_for_bits: float = 0.0) -> Path:
    """Accuracy vs ADC bits (at ``sigma_for_bits``) and vs sigma_H (ideal ADC), per net.

    One row of two panels per net, one line per mode (solid: differential sensing, dashed:
    single-ended) with the seed spread as error bars; the ideal ADC is drawn at
    ``max(bits) + 2`` and labelled "ideal".
    """
    from snnx.monitor.figures import _figure, _save

    bits = sorted({r["adc_bits"] for r in summary if r["adc_bits"] is not None})
    x_inf = (max(bits) if bits else 8) + 2
    nets = sorted({r["net"] for r in summary})
    fig = _figure(11.0, 3.8 * max(1, len(nets)))
    axes = fig.subplots(max(1, len(nets)), 2, squeeze=False)
    for (ax_b, ax_s), net in zip(axes, nets):
        for i, mode in enumerate(sorted({r["mode"] for r in summary if r["net"] == net})):
            style = dict(color=f"C{i}", marker="o", markersize=3, capsize=2, label=mode,
                         linestyle="-" if MODES[mode].sense == "diff" else "--")
            mine = [r for r in summary if (r["net"], r["mode"]) == (net, mode)]
            rb = sorted((r for r in mine
                         if math.isclose(r["sigma_h"], sigma_for_bits, abs_tol=1e-12)),
                        key=lambda r: x_inf if r["adc_bits"] is None else r["adc_bits"])
            if rb:
                ax_b.errorbar([x_inf if r["adc_bits"] is None else r["adc_bits"] for r in rb],
                              [r["mean"] for r in rb], [r["std"] for r in rb], **style)
            rs = sorted((r for r in mine if r["adc_bits"] is None), key=lambda r: r["sigma_h"])
            if rs:
                ax_s.errorbar([r["sigma_h_uA"] for r in rs], [r["mean"] for r in rs],
                              [r["std"] for r in rs], **style)
        ax_b.set_xticks(bits + [x_inf], [str(b) for b in bits] + ["ideal"])
        ax_b.set(title=f"{net}: ADC resolution (sigma_H = {sigma_for_bits * 1e6:g} uA)",
                 xlabel="ADC bits", ylabel="test accuracy")
        ax_s.set(title=f"{net}: HRS current spread (ideal ADC)", xlabel="sigma_H (uA)",
                 ylabel="test accuracy")
        for ax in (ax_b, ax_s):
            ax.grid(alpha=0.3)
            ax.set_ylim(0.0, 1.02)
        ax_s.legend(fontsize=8, loc="lower left")
    return _save(fig, path)
