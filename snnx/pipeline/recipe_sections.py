"""Recipe sections of the run phases: off-chip pretraining, evaluation and monitoring.

Torch-free; :mod:`snnx.pipeline.recipe` assembles them into a :class:`~snnx.pipeline.recipe.Recipe`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from snnx.config.schema import KW, spec
from snnx.errors import ConfigError


@dataclasses.dataclass(**KW)
class PretrainConfig:
    """Off-chip (software) training on the source subjects before deployment."""

    steps: int = spec(600, lo=0, hi=1 << 30, doc="optimiser steps, whatever the data size: "
                      "budget = max(steps, epochs x batches per epoch); both 0 = no pretraining")
    epochs: int = spec(0, lo=0, hi=100000, doc="passes over the training windows the budget "
                       "covers at least; 0 = the step budget alone")
    val_fraction: float = spec(0.1, lo=0, hi=1, hi_open=True, doc="share of the source "
                               "training windows (whole bouts, per class) held out for "
                               "validation, in [0, 1); 0 = none, the last weights are kept")
    val_every: int = spec(25, lo=1, hi=1 << 30, doc="optimiser steps between validations")
    patience: int = spec(200, lo=0, hi=1 << 30, doc="stop after this many optimiser steps "
                         "without a better validation; 0 = never (the best is still kept)")
    early_stop_on: str = spec("accuracy", choices=("accuracy", "loss"), doc="what the best "
                              "validation is: accuracy (ties: lower loss) | loss")
    lr: float = spec(2e-3, lo=0, lo_open=True, hi=10, doc="Adam learning rate, in (0, 10]")
    batch_size: int = spec(64, lo=1, hi=1 << 20, doc="windows per batch")
    weight_decay: float = spec(0.0, lo=0, hi=1, doc="L2 weight decay, in [0, 1]")
    noise_injection: float = spec(0.0, lo=0, hi=1,
                                  doc="std of relative weight noise injected during training "
                                      "(hardware-aware pretraining); 0 = off")
    checkpoint: str | None = spec(None, doc="start from this pretrained HDF5 checkpoint instead "
                                            "of training (snnx train, Deployed.export), or from "
                                            "the chip of a run folder / deployed.h5 (weights "
                                            "read back); null = train")
    qat_bits: int | None = spec(None, lo=2, hi=16, doc="quantisation-aware training in "
                                "aware_epochs: b-bit weights, levels +-(2^(b-1)-1) (3: +-3); "
                                "null = off (snnx.nn.weight_views)")
    noise_aware: bool = spec(False, doc="noise-aware training in aware_epochs: every forward "
                                        "pass sees one noisy read of the hardware's cells "
                                        "(ReSNA with noise.read.rtn)")
    aware_epochs: int = spec(5, lo=1, hi=100000, doc="epochs of QAT / noise-aware training "
                                                     "after the plain ones (if either is on)")

    def __post_init__(self) -> None:
        p = None if self.checkpoint is None else Path(self.checkpoint).expanduser()
        if p is not None and not (p.is_file() or (p / "config.resolved.yaml").is_file()):
            raise ConfigError(f"pretrain.checkpoint: file not found: {self.checkpoint}")


@dataclasses.dataclass(**KW)
class EvalConfig:
    """Evaluation on the held-out target windows."""

    mc_draws: int = spec(3, lo=1, hi=10000,
                         doc="hardware draws (variation, faults, noise) averaged per accuracy")
    every: int = spec(50, lo=0, hi=1 << 30,
                      doc="evaluate every N stream windows; 0 = only before and after")
    times: tuple[float, ...] = spec((), doc="s since programming: accuracy with drift (hw.drift)"
                                            " at each, before and after one adaptation pass; "
                                            "e.g. [1, 3600, 86400, 2592000]; [] = off")
    times_mode: str = spec("independent", choices=("independent", "timeline"),
                           doc="independent: each time from the freshly programmed chip | "
                               "timeline: one chip worn and adapted at every time in turn")

    def __post_init__(self) -> None:
        for i, t in enumerate(self.times):
            if not 0 <= t < 1e12:
                raise ConfigError(f"eval.times[{i}]: {t!r} is out of range [0, 1e12) s")
            if self.times_mode == "timeline" and i and t < self.times[i - 1]:
                raise ConfigError(f"eval.times[{i}]: {t!r} is before the time before it "
                                  f"(times_mode timeline runs forward)")


@dataclasses.dataclass(**KW)
class MonitorConfig:
    """What a run writes besides report.json."""

    tensorboard: bool = spec(True, doc="write tb/ event files")
    jsonl: bool = spec(True, doc="write metrics.jsonl")
    figures: bool = spec(True, doc="write PNG figures at the end")
    log_every: int = spec(10, lo=1, hi=1 << 30, doc="log scalars every N stream windows")
    histograms_every: int = spec(100, lo=0, hi=1 << 30,
                                 doc="conductance histograms every N windows; 0 = never")
    checkpoint_every: int = spec(20, lo=0, hi=1 << 30,
                                 doc="write checkpoints/step_N.h5 every N on-chip learning "
                                     "steps (and always at the end); 0 = only at the end")
