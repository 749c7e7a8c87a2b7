"""Metric loggers: the :class:`MetricLogger` protocol, stdout, metrics.jsonl, fan-out.

Every logger follows the small :class:`MetricLogger` protocol, so a run talks to one
:class:`MultiLogger` and never cares where the numbers go. Tags are ``group/metric``:
``adapt/accuracy``, ``adapt/loss``, ``hw/energy_j``, ``hw/latency_s``, ``hw/pulses``.
Secret-looking config values are redacted (:func:`snnx.config.secrets.redact`).

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

import yaml

from snnx.config.secrets import redact


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


def scalar(value: Any) -> float:
    """A Python float from a number, numpy scalar or one-element tensor."""
    return float(value.item()) if hasattr(value, "item") else float(value)


def config_yaml(config: Mapping[str, Any]) -> str:
    """The config as YAML text, secrets redacted."""
    return yaml.safe_dump(redact(config), sort_keys=False, default_flow_style=None, width=100)


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
        v = scalar(value)
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
        self._log.log(self._level, "step %d | %s=%.4g", step, tag, scalar(value))

    def log_dict(self, metrics: Mapping[str, float], step: int) -> None:
        text = " | ".join(f"{tag}={scalar(v):.4g}" for tag, v in metrics.items())
        self._log.log(self._level, "step %d | %s", step, text)

    def log_config(self, config: Mapping[str, Any]) -> None:
        self._log.log(self._level, "resolved config:\n%s", config_yaml(config).rstrip())

    def close(self) -> None:
        """Nothing to release."""


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
        monitor: a :class:`snnx.pipeline.recipe.MonitorConfig` (``jsonl``, ``tensorboard``
            flags); None turns both on.
        append: continue existing files (``--resume``).
    """
    from snnx.monitor.tensorboard import TensorBoardLogger

    run_dir = Path(run_dir)
    loggers: list[MetricLogger] = [StdoutLogger()]
    if monitor is None or monitor.jsonl:
        loggers.append(JsonlLogger(run_dir / "metrics.jsonl", append=append))
    if monitor is None or monitor.tensorboard:
        loggers.append(TensorBoardLogger(run_dir / "tb"))
    return MultiLogger(loggers)
