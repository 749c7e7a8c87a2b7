"""snnx.monitor: where a run's numbers and pictures go.

* :mod:`~snnx.monitor.loggers` -- the :class:`MetricLogger` protocol, stdout, metrics.jsonl,
  fan-out (:class:`MultiLogger`);
* :mod:`~snnx.monitor.tensorboard` -- TensorBoard scalars, histograms, heatmaps, hparams;
* :mod:`~snnx.monitor.figures` -- PNG figures (matplotlib Agg).
"""

from snnx.config.lazy import lazy_exports
from snnx.monitor.loggers import (JsonlLogger, MetricLogger, MultiLogger, StdoutLogger,
                                  read_metrics_jsonl, run_logger)

__getattr__ = lazy_exports(__name__, {
    "TensorBoardLogger": "snnx.monitor.tensorboard",
    "read_tensorboard_scalars": "snnx.monitor.tensorboard",
    "colorize": "snnx.monitor.figures", "plot_stream_accuracy": "snnx.monitor.figures",
    "plot_energy_split": "snnx.monitor.figures", "plot_rule_comparison": "snnx.monitor.figures",
    "plot_group_comparison": "snnx.monitor.figures", "plot_sweep": "snnx.monitor.figures",
})

__all__ = ["JsonlLogger", "MetricLogger", "MultiLogger", "StdoutLogger", "TensorBoardLogger",
           "colorize", "plot_energy_split", "plot_group_comparison", "plot_rule_comparison",
           "plot_stream_accuracy", "plot_sweep",
           "read_metrics_jsonl", "read_tensorboard_scalars", "run_logger"]
