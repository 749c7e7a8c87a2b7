"""Figures of a search: Pareto scatter plots and hypervolume against compute.

Drawn on matplotlib's Agg canvas directly (no pyplot, no global backend switch), imported
only when a figure is drawn; files are written atomically.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from snnx.monitor.figures import _figure, _save  # one figure/atomic-save helper


def _axis(ax: Any, which: str, values: np.ndarray, label: str) -> None:
    getattr(ax, f"set_{which}label")(label)
    v = values[np.isfinite(values)]
    if len(v) and v.min() > 0 and v.max() / v.min() > 20:
        getattr(ax, f"set_{which}scale")("log")


def plot_pareto(problem: Any, recs: Sequence[Any], front: Sequence[Any],
                path: str | os.PathLike) -> Path:
    """The first objective against each other one (one panel each): cheap trials (grey),
    full trials (blue), the Pareto set (red, numbered).

    Args:
        problem: the :class:`~snnx.dse.problem.Problem`.
        recs: finished trials (:class:`~snnx.dse.study.TrialRecord`).
        front: the Pareto trials among them.
        path: PNG to write.
    """
    fields = problem.fields
    d = len(fields)
    pairs = [(0, i) for i in range(1, d)] or [(0, 0)]
    fig = _figure(4.0 * len(pairs), 3.6)
    axes = fig.subplots(1, len(pairs), squeeze=False)[0]
    groups = (("cheap", "cheap fidelity", dict(c="0.75", s=12, marker="x")),
              ("full", "full fidelity", dict(c="tab:blue", s=18, alpha=0.8)))
    best = {r.number for r in front}
    for ax, (i, j) in zip(axes, pairs):
        if d == 1:
            ax.set_xlabel("trial")
        for fid, label, style in groups:
            pts = np.array([r.values for r in recs if r.fidelity == fid]).reshape(-1, d)
            if len(pts):
                x = pts[:, j] if d > 1 else np.arange(len(pts))
                ax.scatter(x, pts[:, i], label=label, **style)
        pf = np.array([r.values for r in front]).reshape(-1, d)
        if len(pf):
            x = pf[:, j] if d > 1 else np.arange(len(pf))
            ax.scatter(x, pf[:, i], c="tab:red", s=36, label="Pareto set (all objectives)",
                       zorder=3)
            for r, xv, yv in zip(front, x, pf[:, i]):
                ax.annotate(str(r.number), (xv, yv), fontsize=6, xytext=(2, 2),
                            textcoords="offset points")
        all_v = np.array([r.values for r in recs]).reshape(-1, d)
        if d > 1:
            _axis(ax, "x", all_v[:, j], fields[j])
        _axis(ax, "y", all_v[:, i], f"{fields[i]} ({problem.directions[i][:3]})")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{problem.study}: {len(best)} Pareto-optimal of "
                 f"{sum(r.fidelity == 'full' for r in recs)} full-fidelity trials", fontsize=10)
    return _save(fig, path)


def plot_hypervolume(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
                     path: str | os.PathLike, *, title: str = "Hypervolume against compute"
                     ) -> Path:
    """Hypervolume (normalised objectives, fixed reference) against cumulative CPU seconds.

    Args:
        curves: label -> (cumulative compute in s, hypervolume), one point per trial.
        path: PNG to write.
        title: figure title.
    """
    fig = _figure(5.6, 3.8)
    ax = fig.subplots()
    for label, (x, y) in curves.items():
        ax.step(np.asarray(x, dtype=float), np.asarray(y, dtype=float), where="post",
                label=label)
    ax.set_xlabel("compute spent (CPU s, all trials and fidelities)")
    ax.set_ylabel("hypervolume (normalised)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, path)
