"""Figures of a run, drawn with matplotlib's Agg canvas directly (no pyplot, no global
backend switch); matplotlib is imported only when a figure is drawn.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from snnx.monitor.loggers import scalar


def to_numpy(values: Any) -> np.ndarray:
    """A float64 numpy array from a tensor (without importing torch here) or array-like."""
    if hasattr(values, "detach"):  # torch tensor
        values = values.detach().to("cpu").numpy()
    return np.asarray(values, dtype=np.float64)


def colorize(array: Any, *, cmap: str = "viridis", vmin: float | None = None,
             vmax: float | None = None, min_side: int = 64, max_side: int = 2048) -> np.ndarray:
    """A 2-D array as an RGB uint8 image (H, W, 3); NaN cells are black.

    Args:
        array: (rows, cols) values, e.g. conductances in S.
        cmap: matplotlib colour map name.
        vmin, vmax: colour range; default the finite min and max.
        min_side, max_side: cells are repeated so the shorter side reaches ``min_side``
            pixels, without the longer side passing ``max_side``.
    """
    import matplotlib

    arr = to_numpy(array)
    if arr.ndim != 2:
        raise ValueError(f"log_image expects a 2-D array, got shape {arr.shape}")
    finite = arr[np.isfinite(arr)]
    lo = vmin if vmin is not None else (float(finite.min()) if finite.size else 0.0)
    hi = vmax if vmax is not None else (float(finite.max()) if finite.size else 1.0)
    scaled = (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
    rgba = matplotlib.colormaps[cmap](np.clip(np.nan_to_num(scaled), 0.0, 1.0))
    rgb = (rgba[..., :3] * 255).round().astype(np.uint8)
    rgb[~np.isfinite(arr)] = 0
    factor = max(1, min(math.ceil(min_side / min(arr.shape)), max_side // max(arr.shape)))
    return np.repeat(np.repeat(rgb, factor, axis=0), factor, axis=1)


# ------------------------------------------------------------------------------- figures

_UNITS = ((1.0, "J"), (1e-3, "mJ"), (1e-6, "\u00b5J"), (1e-9, "nJ"), (1e-12, "pJ"), (1e-15, "fJ"))
_AXIS = {"energy_j": "energy (J)", "latency_s": "latency (s)", "area_m2": "area (m$^2$)"}


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: str | os.PathLike) -> Path:
    """Write a PNG atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fig.savefig(tmp, format="png", dpi=120)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def plot_stream_accuracy(steps: Sequence[float], acc: Any, path: str | os.PathLike, *,
                         reference: Mapping[str, float] | None = None,
                         title: str = "Accuracy along the target stream",
                         xlabel: str = "stream window", ylabel: str = "accuracy") -> Path:
    """Accuracy along the on-line stream, one line per rule.

    Args:
        steps: x positions (stream windows) shared by the curves.
        acc: one sequence aligned with ``steps``, or ``{label: sequence}`` for several rules;
            a value may also be a ``(steps, acc)`` pair with its own x positions.
        path: PNG file to write.
        reference: horizontal dashed lines, e.g. ``{"software": 0.93, "deployed": 0.71}``.

    Returns:
        The path written.
    """
    series = acc if isinstance(acc, Mapping) else {"": acc}
    fig = _figure(6.4, 4.0)
    ax = fig.add_subplot()
    values = []
    for label, ys in series.items():
        xs = steps
        if isinstance(ys, tuple) and len(ys) == 2 and not np.isscalar(ys[0]):
            xs, ys = ys
        xs, ys = to_numpy(xs), to_numpy(ys)
        if xs.shape != ys.shape or xs.ndim != 1:
            raise ValueError(f"plot_stream_accuracy: {label or 'acc'} has shape {ys.shape}, "
                             f"steps {xs.shape}")
        ax.plot(xs, ys, marker="." if len(xs) < 40 else None, label=label or None)
        values.extend(ys[np.isfinite(ys)])
    for i, (label, level) in enumerate((reference or {}).items()):
        ax.axhline(level, linestyle="--", linewidth=1, color=f"C{len(series) + i}", label=label)
        values.append(level)
    if values and 0.0 <= min(values) and max(values) <= 1.0:
        ax.set_ylim(0.0, 1.02)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    if len(series) > 1 or reference or "" not in series:
        ax.legend(loc="lower right")
    return _save(fig, path)


def plot_energy_split(split: Mapping[str, float], path: str | os.PathLike, *,
                      title: str = "Adaptation energy by operation", kind: str = "bar") -> Path:
    """Energy per operation (ADC, DAC, array read, pulses, digital...) as bars or a pie.

    Args:
        split: operation -> energy in J (non-negative, finite).
        path: PNG file to write.
        kind: ``bar`` (sorted, with share labels) or ``pie``.
    """
    items = sorted(((k, scalar(v)) for k, v in split.items()), key=lambda kv: -kv[1])
    bad = [k for k, v in items if not math.isfinite(v) or v < 0]
    if bad:
        raise ValueError(f"plot_energy_split: energy must be finite and >= 0 (bad: {bad})")
    if kind not in ("bar", "pie"):
        raise ValueError(f"plot_energy_split: kind must be 'bar' or 'pie', got {kind!r}")
    total = sum(v for _, v in items)
    fig = _figure(6.4, max(2.5, 0.45 * len(items) + 1.2) if kind == "bar" else 4.8)
    ax = fig.add_subplot()
    ax.set_title(title)
    if total <= 0:
        ax.text(0.5, 0.5, "no energy recorded", ha="center", va="center")
        ax.set_axis_off()
    elif kind == "pie":
        shown = [(k, v) for k, v in items if v > 0]
        ax.pie([v for _, v in shown], labels=[k for k, _ in shown], autopct="%1.0f%%")
    else:
        scale, unit = next(((s, u) for s, u in _UNITS if total >= s), _UNITS[-1])
        names = [k for k, _ in items][::-1]
        vals = [v / scale for _, v in items][::-1]
        bars = ax.barh(names, vals, color="C0")
        ax.bar_label(bars, labels=[f"{v:.3g} {unit} ({100 * v * scale / total:.0f} %)"
                                   for v in vals], padding=3, fontsize=8)
        ax.set_xlabel(f"energy ({unit}); total {total / scale:.3g} {unit}")
        ax.set_xlim(0, max(vals) * 1.45)
    return _save(fig, path)


def plot_rule_comparison(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike, *,
                         metrics: Sequence[str] = ("energy_j", "latency_s", "area_m2"),
                         label_key: str = "rule", accuracy_key: str = "accuracy") -> Path:
    """Accuracy against energy, latency and area, one point per rule (or per run).

    Args:
        rows: e.g. ``[{"rule": "dfa", "accuracy": 0.86, "energy_j": 1e-6, ...}, ...]``.
        path: PNG file to write.
        metrics: cost keys to plot, one panel each; keys no row has are left out.
        label_key, accuracy_key: keys of the point label and the y value.
    """
    if not rows:
        raise ValueError("plot_rule_comparison: no rows")
    for row in rows:
        if accuracy_key not in row:
            raise ValueError(f"plot_rule_comparison: row {dict(row)} has no {accuracy_key!r}")
    shown = [m for m in metrics if any(m in row for row in rows)]
    if not shown:
        raise ValueError(f"plot_rule_comparison: no row has any of {list(metrics)}")
    fig = _figure(3.6 * len(shown), 3.6)
    axes = fig.subplots(1, len(shown), squeeze=False)[0]
    for ax, metric in zip(axes, shown):
        pts = [(i, scalar(r[metric]), scalar(r[accuracy_key]), str(r.get(label_key, i)))
               for i, r in enumerate(rows) if metric in r]
        for i, x, y, label in pts:  # colour by row, so a rule keeps its colour in every panel
            ax.scatter([x], [y], color=f"C{i % 10}", s=40)
            ax.annotate(label, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
        xs = [x for _, x, _, _ in pts]
        if min(xs) > 0 and max(xs) / min(xs) >= 10:
            ax.set_xscale("log")
        else:
            ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3))
        ax.margins(x=0.25, y=0.2)
        ax.set(xlabel=_AXIS.get(metric, metric), ylabel=accuracy_key)
        ax.grid(alpha=0.3)
    fig.suptitle("Accuracy vs cost per rule")
    return _save(fig, path)


def _mc(stat: Mapping[str, Any] | None, scale: float = 1.0) -> tuple[float, float]:
    """(mean, CI half-width) of a summary statistic, NaN / 0 where missing."""
    if not stat or stat.get("mean") is None:
        return math.nan, 0.0
    return stat["mean"] * scale, (stat.get("ci95") or 0.0) * scale


def plot_group_comparison(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike, *,
                          accuracies: Sequence[str] = ("software", "deployed", "adapted",
                                                       "prequential"),
                          costs: Sequence[str] = ("energy_j", "latency_s", "area_m2")) -> Path:
    """Groups of runs with 95 % CI error bars: accuracies as bars, then adapted accuracy
    against each cost.

    Args:
        rows: ``[{"label": "dfa", "n": 5, "stats": {"adapted": {"mean": 0.86, "ci95":
            0.03}, "energy_j": {...}, ...}}, ...]`` (:func:`snnx.pipeline.compare.compare`).
        path: PNG file to write.
        accuracies, costs: stats keys of the bar panel and of the scatter panels.
    """
    if not rows:
        raise ValueError("plot_group_comparison: no rows")
    fig = _figure(4.2 + 3.4 * len(costs), 3.8)
    axes = fig.subplots(1, 1 + len(costs), squeeze=False)[0]
    ax, width = axes[0], 0.8 / max(1, len(accuracies))
    for j, key in enumerate(accuracies):
        mc = [_mc(r["stats"].get(key), 100.0) for r in rows]
        ax.bar([i + (j - (len(accuracies) - 1) / 2) * width for i in range(len(rows))],
               [m for m, _ in mc], width, yerr=[c for _, c in mc], capsize=2, label=key,
               color=f"C{j}")
    ax.set_xticks(range(len(rows)), [f"{r['label']}\n(n={r['n']})" for r in rows], fontsize=7)
    ax.set(ylabel="accuracy (%)", ylim=(0, 105))
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(axis="y", alpha=0.3)
    for ax, key in zip(axes[1:], costs):
        for i, r in enumerate(rows):
            (x, dx), (y, dy) = _mc(r["stats"].get(key)), _mc(r["stats"].get("adapted"), 100.0)
            ax.errorbar([x], [y], xerr=[dx], yerr=[dy], fmt="o", color=f"C{i % 10}",
                        capsize=3)
            if math.isfinite(x) and math.isfinite(y):
                ax.annotate(str(r["label"]), (x, y), textcoords="offset points",
                            xytext=(5, 4), fontsize=7)
        xs = [m for m in (_mc(r["stats"].get(key))[0] for r in rows) if math.isfinite(m)]
        if xs and min(xs) > 0 and max(xs) / min(xs) >= 10:
            ax.set_xscale("log")
        else:
            ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3))
        ax.margins(x=0.3)
        ax.set(xlabel=_AXIS.get(key, key), ylabel="adapted accuracy (%)", ylim=(0, 105))
        ax.grid(alpha=0.3)
    fig.suptitle("Groups of runs: mean and 95 % CI over seeds (Student t)")
    return _save(fig, path)


def plot_sweep(series: Mapping[str, Sequence[tuple[float, Mapping[str, Any]]]],
               path: str | os.PathLike, *, key: str, metric: str = "adapted") -> Path:
    """A sweep: ``metric`` (mean and 95 % CI over seeds) against the swept value, one line
    per recipe; log x when the values span a factor of 10 or more.

    Args:
        series: label -> [(value, stats of the runs at that value), ...].
        path: PNG file to write.
        key: the swept recipe key (x label).
        metric: the accuracy plotted.
    """
    if not series:
        raise ValueError("plot_sweep: no series")
    fig = _figure(5.0, 3.8)
    ax = fig.subplots()
    xs_all: list[float] = []
    values = [v for points in series.values() for v, _ in points]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    names = list(dict.fromkeys(str(v) for v in values))  # non-numeric: one position each
    for i, (label, points) in enumerate(series.items()):
        xs = [float(v) if numeric else float(names.index(str(v))) for v, _ in points]
        mc = [_mc(s.get(metric), 100.0) for _, s in points]
        ax.errorbar(xs, [m for m, _ in mc], yerr=[c for _, c in mc], fmt="o-", capsize=3,
                    color=f"C{i % 10}", label=label)
        xs_all += xs
    if not numeric:
        ax.set_xticks(range(len(names)), names)
    elif min(xs_all) > 0 and max(xs_all) / min(xs_all) >= 10:
        ax.set_xscale("log")
    ax.set(xlabel=key, ylabel=f"{metric} accuracy (%)", ylim=(0, 105))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.suptitle(f"Sweep of {key}: mean and 95 % CI over seeds")
    return _save(fig, path)


def plot_drift(block: Mapping[str, Any], path: str | os.PathLike, title: str) -> Path:
    """drift.png: held-out accuracy vs time since programming (a report.json ``drift``
    block: ``times_s``, ``labels``, ``deployed``, ``adapted``), with and without adaptation."""
    t = [max(v, 1e-3) for v in block["times_s"]]
    fig = _figure(6.4, 4)
    ax = fig.add_subplot()
    ax.plot(t, [100 * v for v in block["deployed"]], "o-", label="as programmed (drifted)")
    ax.plot(t, [100 * v for v in block["adapted"]], "s-", label="after on-line adaptation")
    ax.set_xscale("log")
    ax.set_xticks(t, block["labels"], rotation=0)
    ax.set(xlabel="time since programming", ylabel="held-out accuracy (%)", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)
