"""TensorBoard: scalars, conductance histograms, crossbar heatmaps, hparams.

TensorBoard is imported only when a :class:`TensorBoardLogger` is made.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from snnx.config.overrides import flatten
from snnx.config.secrets import redact
from snnx.monitor.figures import colorize, to_numpy
from snnx.monitor.loggers import config_yaml, scalar

logger = logging.getLogger(__name__)


def _after_existing_files(logdir: Path) -> None:
    """Wait (at most ~1 s) until a new event file's name sorts after every file already in
    ``logdir``. Readers take the files in name order, and a resumed run's SessionLog START
    (``purge_step``) only hides the old events read before it. The name is
    ``events.out.tfevents.<10-digit second>.<host>.<pid>.<counter>``: within one second, a
    process's counter going from 9 to 10 would sort the new file first."""
    import time

    fields = (p.name.split(".") for p in logdir.glob("events.out.tfevents.*"))
    stamps = [int(f[3]) for f in fields if len(f) > 3 and f[3].isdigit()]
    if stamps:
        while int(time.time()) <= max(stamps):
            time.sleep(0.02)


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
        _after_existing_files(self.logdir)
        self._writer = SummaryWriter(log_dir=str(self.logdir), flush_secs=flush_secs,
                                     purge_step=purge_step)

    def log(self, tag: str, value: float, step: int) -> None:
        self._writer.add_scalar(tag, scalar(value), int(step))

    def log_dict(self, metrics: Mapping[str, float], step: int) -> None:
        for tag, value in metrics.items():
            self.log(tag, value, step)

    def log_config(self, config: Mapping[str, Any]) -> None:
        text = "\n".join("    " + line for line in config_yaml(config).splitlines())
        self._writer.add_text("config", text, 0)  # indented = a markdown code block

    def log_histogram(self, tag: str, values: Any, step: int) -> None:
        """Histogram of ``values`` (any shape; e.g. a tile's conductances in S)."""
        arr = to_numpy(values).ravel()
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
                "null" if v is None else str(v) for k, v in flatten(redact(hparams)).items()}
        values = {k: scalar(v) for k, v in metrics.items()}
        for summary in hparams_summary(flat, values):
            self._writer.file_writer.add_summary(summary)
        for tag, value in values.items():
            self._writer.add_scalar(tag, value, 0)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def read_tensorboard_scalars(logdir: str | os.PathLike) -> dict[str, list[tuple[int, float]]]:
    """All scalars in the event files of ``logdir`` as ``{tag: [(step, value), ...]}``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(ev.step, ev.value) for ev in acc.Scalars(tag)]
            for tag in acc.Tags()["scalars"]}
