"""Metric logging (stdout, metrics.jsonl, TensorBoard) and the figures of a run.

Every logger follows the small :class:`MetricLogger` protocol, so a run talks to one
:class:`MultiLogger` and never cares where the numbers go. Tags are ``group/metric``:
``adapt/accuracy``, ``adapt/loss``, ``hw/energy_j``, ``hw/latency_s``, ``hw/pulses``.
TensorBoard is imported only when a :class:`TensorBoardLogger` is made, and figures are drawn
with matplotlib's Agg canvas directly (no pyplot, no global backend switch).

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "metrics.jsonl"
    >>> log = MultiLogger([StdoutLogger(), JsonlLogger(path)])
    >>> log.log_dict({"adapt/accuracy": 0.81, "hw/energy_j": 2.5e-6}, step=50)
    >>> log.close()
    >>> read_metrics_jsonl(path)["adapt/accuracy"]
    [(50, 0.81)]
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import yaml

logger = logging.getLogger(__name__)

_SECRET_KEYS = ("key", "secret", "password", "token")


@runtime_checkable
class MetricLogger(Protocol):
    """Where scalar metrics and the resolved config go. Verbs return None."""

    def log(self, tag: str, value: float, step: int) -> None:
        """Record one scalar ``value`` under ``tag`` at stream/training ``step``."""

    def log_dict(self, metrics: Mapping[str, float], step: int) -> None:
        """Record several scalars at the same ``step``."""

    def log_config(self, config: Mapping[str, Any]) -> None:
        """Record the resolved run config once, at the start (secrets redacted)."""

    def close(self) -> None:
        """Flush and release files."""


def _scalar(value: Any) -> float:
    """A Python float from a number, numpy scalar or one-element tensor."""
    return float(value.item()) if hasattr(value, "item") else float(value)


def redact(config: Any) -> Any:
    """A copy of a nested config with secret-looking values (``key``, ``*_secret``...) hidden."""
    if isinstance(config, Mapping):
        out = {}
        for k, v in config.items():
            name = str(k).lower()
            secret = name in _SECRET_KEYS or name.endswith(tuple("_" + s for s in _SECRET_KEYS))
            out[k] = "<redacted>" if secret and v is not None else redact(v)
        return out
    if isinstance(config, (list, tuple)):
        return [redact(v) for v in config]
    return config


def _config_yaml(config: Mapping[str, Any]) -> str:
    return yaml.safe_dump(redact(config), sort_keys=False, default_flow_style=None, width=100)


# ------------------------------------------------------------------------------- loggers

class JsonlLogger:
    """Append-only ``metrics.jsonl``: one JSON object per line, flushed after every write.

    Lines are either a scalar ``{"step": 50, "tag": "adapt/accuracy", "value": 0.81,
    "time": 1.7e9}`` (``log_dict`` writes one such line per tag) or the config
    ``{"config": {...}, "time": ...}``. ``time`` is wall-clock Unix seconds; a non-finite
    value is written as ``null`` so every line is strict JSON.

    Args:
        path: file to write; parent folders are created.
        append: keep existing lines (``--resume``) instead of starting a new file.
    """

    def __init__(self, path: str | os.PathLike, *, append: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a" if append else "w", encoding="utf-8")

    def _write(self, record: dict) -> None:
        self._fh.write(json.dumps(record, allow_nan=False) + "\n")
        self._fh.flush()

    def log(self, tag: str, value: float, step: int) -> None:
        v = _scalar(value)
        self._write({"step": int(step), "tag": tag, "value": v if math.isfinite(v) else None,
                     "time": time.time()})

    def log_dict(self, metrics: Mapping[str, float], step: int) -> None:
        for tag, value in metrics.items():
            self.log(tag, value, step)

    def log_config(self, config: Mapping[str, Any]) -> None:
        self._write({"config": redact(config), "time": time.time()})

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


def read_metrics_jsonl(path: str | os.PathLike) -> dict[str, list[tuple[int, float]]]:
    """Scalars of a ``metrics.jsonl`` as ``{tag: [(step, value), ...]}`` (null -> nan)."""
    out: dict[str, list[tuple[int, float]]] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            if "tag" in rec:
                value = math.nan if rec["value"] is None else float(rec["value"])
                out.setdefault(rec["tag"], []).append((int(rec["step"]), value))
    return out


class StdoutLogger:
    """Metrics as log records of the ``snnx.metrics`` logger (shown by the CLI's handler)."""

    def __init__(self, level: int = logging.INFO, name: str = "snnx.metrics") -> None:
        self._log = logging.getLogger(name)
        self._level = level

    def log(self, tag: str, value: float, step: int) -> None:
        self._log.log(self._level, "step %d | %s=%.4g", step, tag, _scalar(value))

    def log_dict(self, metrics: Mapping[str, float], step: int) -> None:
        text = " | ".join(f"{tag}={_scalar(v):.4g}" for tag, v in metrics.items())
        self._log.log(self._level, "step %d | %s", step, text)

    def log_config(self, config: Mapping[str, Any]) -> None:
        self._log.log(self._level, "resolved config:\n%s", _config_yaml(config).rstrip())

    def close(self) -> None:
        """Nothing to release."""


class TensorBoardLogger:
    """TensorBoard event files: scalars, conductance histograms, crossbar heatmaps, hparams.

    Args:
        logdir: the run's ``tb/`` folder (created).
        flush_secs: how often pending events reach the disk.
        purge_step: when resuming, hide what an interrupted run logged at steps
            ``>= purge_step`` (TensorBoard's SessionLog START), so curves hold each point once.
    """

    def __init__(self, logdir: str | os.PathLike, *, flush_secs: int = 10,
                 purge_step: int | None = None) -> None:
        from torch.utils.tensorboard import SummaryWriter  # heavy; only when asked for

        self.logdir = Path(logdir)
        self.logdir.mkdir(parents=True, exist_ok=True)
        self._writer = SummaryWriter(log_dir=str(self.logdir), flush_secs=flush_secs,
                                     purge_step=purge_step)

    def log(self, tag: str, value: float, step: int) -> None:
        self._writer.add_scalar(tag, _scalar(value), int(step))

    def log_dict(self, metrics: Mapping[str, float], step: int) -> None:
        for tag, value in metrics.items():
            self.log(tag, value, step)

    def log_config(self, config: Mapping[str, Any]) -> None:
        text = "\n".join("    " + line for line in _config_yaml(config).splitlines())
        self._writer.add_text("config", text, 0)  # indented = a markdown code block

    def log_histogram(self, tag: str, values: Any, step: int) -> None:
        """Histogram of ``values`` (any shape; e.g. a tile's conductances in S)."""
        arr = _to_numpy(values).ravel()
        arr = arr[np.isfinite(arr)]
        if arr.size == 0:
            logger.warning("histogram %s at step %d has no finite values; skipped", tag, step)
            return
        self._writer.add_histogram(tag, arr, int(step))

    def log_image(self, tag: str, array: Any, step: int, *, cmap: str = "viridis",
                  vmin: float | None = None, vmax: float | None = None) -> None:
        """A 2-D array (e.g. conductances of one crossbar, rows x cols) as a colour heatmap.

        Small arrays are enlarged by whole pixels so that each cell stays visible.
        """
        rgb = colorize(array, cmap=cmap, vmin=vmin, vmax=vmax)
        self._writer.add_image(tag, rgb, int(step), dataformats="HWC")

    def log_hparams(self, hparams: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
        """One hparams entry for this run: flattened config values and final metrics."""
        from torch.utils.tensorboard.summary import hparams as hparams_summary

        flat = {k: v if isinstance(v, (bool, int, float, str)) else
                "null" if v is None else str(v) for k, v in _flatten(redact(hparams)).items()}
        values = {k: _scalar(v) for k, v in metrics.items()}
        for summary in hparams_summary(flat, values):
            self._writer.file_writer.add_summary(summary)
        for tag, value in values.items():
            self._writer.add_scalar(tag, value, 0)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


class MultiLogger:
    """Fans every call out to several loggers; optional verbs go to those that have them."""

    def __init__(self, loggers: Sequence[MetricLogger]) -> None:
        self.loggers = list(loggers)

    def log(self, tag: str, value: float, step: int) -> None:
        for lg in self.loggers:
            lg.log(tag, value, step)

    def log_dict(self, metrics: Mapping[str, float], step: int) -> None:
        for lg in self.loggers:
            lg.log_dict(metrics, step)

    def log_config(self, config: Mapping[str, Any]) -> None:
        for lg in self.loggers:
            lg.log_config(config)

    def _optional(self, verb: str, *args: Any, **kwargs: Any) -> None:
        for lg in self.loggers:
            if hasattr(lg, verb):
                getattr(lg, verb)(*args, **kwargs)

    def log_histogram(self, tag: str, values: Any, step: int) -> None:
        self._optional("log_histogram", tag, values, step)

    def log_image(self, tag: str, array: Any, step: int, **kwargs: Any) -> None:
        self._optional("log_image", tag, array, step, **kwargs)

    def log_hparams(self, hparams: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
        self._optional("log_hparams", hparams, metrics)

    def close(self) -> None:
        for lg in self.loggers:
            lg.close()


def run_logger(run_dir: str | os.PathLike, monitor: Any = None, *,
               append: bool = False) -> MultiLogger:
    """The loggers of one run: stdout, plus ``metrics.jsonl`` and ``tb/`` as ``monitor`` says.

    Args:
        run_dir: ``runs/<recipe>/<timestamp>/``.
        monitor: a :class:`snnx.recipes.MonitorConfig` (``jsonl``, ``tensorboard`` flags);
            None turns both on.
        append: continue existing files (``--resume``).
    """
    run_dir = Path(run_dir)
    loggers: list[MetricLogger] = [StdoutLogger()]
    if monitor is None or monitor.jsonl:
        loggers.append(JsonlLogger(run_dir / "metrics.jsonl", append=append))
    if monitor is None or monitor.tensorboard:
        loggers.append(TensorBoardLogger(run_dir / "tb"))
    return MultiLogger(loggers)


def read_tensorboard_scalars(logdir: str | os.PathLike) -> dict[str, list[tuple[int, float]]]:
    """All scalars in the event files of ``logdir`` as ``{tag: [(step, value), ...]}``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(ev.step, ev.value) for ev in acc.Scalars(tag)]
            for tag in acc.Tags()["scalars"]}


# ------------------------------------------------------------------------------- helpers

def _to_numpy(values: Any) -> np.ndarray:
    if hasattr(values, "detach"):  # torch tensor, without importing torch here
        values = values.detach().to("cpu").numpy()
    return np.asarray(values, dtype=np.float64)


def _flatten(tree: Mapping, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in tree.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, Mapping) and v:
            out.update(_flatten(v, key))
        else:
            out[key] = v
    return out


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

    arr = _to_numpy(array)
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
        xs, ys = _to_numpy(xs), _to_numpy(ys)
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
    items = sorted(((k, _scalar(v)) for k, v in split.items()), key=lambda kv: -kv[1])
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
        pts = [(i, _scalar(r[metric]), _scalar(r[accuracy_key]), str(r.get(label_key, i)))
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
