"""Accuracy versus time since programming (recipe key ``eval.times``): the wearable case, a
device worn for weeks while its conductances drift (``hw.drift``, :mod:`snnx.hw.drift`).

For every time t in ``eval.times`` (s since programming):

1. ``eval.times_mode: independent`` (default): the software network is deployed again
   exactly as in the run (same seed: the same programming, faults and drift draws);
   ``timeline``: one such chip serves every time in turn, keeping what the adaptation at the
   earlier times wrote (a device worn for weeks and adapted along the way). Every tile's
   clock is set to t (:meth:`snnx.hw.Tile.set_time`);
2. ``deployed``: the held-out target accuracy at t, before adapting at t;
3. ``adapted``: the run's on-line phase (:class:`~snnx.pipeline.loop.OnlineLoop`, same
   stream order, labels and rule; a fresh rule state for ``independent``) runs at t -- its
   writes restart the drift of the cells they touch -- and the held-out accuracy is
   measured again.

With ``t <= t0`` of the drift model the first time reproduces the run's own ``deployed``
and ``adapted`` accuracies (the cells are read as written). The costs of these extra passes
are not added to the run's ledger; each pass's adaptation energy is reported beside it.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from snnx.monitor.loggers import MultiLogger
from snnx.pipeline import model as pm
from snnx.pipeline.loop import OnlineLoop

log = logging.getLogger(__name__)

_UNITS = ((30 * 86400.0, "month"), (86400.0, "day"), (3600.0, "h"), (60.0, "min"), (1.0, "s"))


def fmt_duration(t: float) -> str:
    """``2592000`` -> ``'1 month'``, ``3600`` -> ``'1 h'``, ``0.5`` -> ``'0.5 s'``."""
    for scale, unit in _UNITS:
        if t >= scale:
            v = t / scale
            name = unit + ("s" if unit in ("month", "day") and round(v, 2) != 1 else "")
            return f"{v:.3g} {name}"
    return f"{t:.3g} s"


def set_time(chip: Any, t: float) -> None:
    """Set the clock of every RRAM tile of ``chip`` to ``t`` s (a rule that keeps its
    weights elsewhere, log-domain SGD's capacitors, leaves its programmed tile behind)."""
    from snnx.pipeline.report_realism import rram_tile

    for lyr in chip.layers:
        rram_tile(lyr).set_time(t)


def time_sweep(*, recipe: Any, deploy_chip: Callable[[], Any], stream: tuple, data: Any,
               labelled: Any, x_test: Any, y_test: Any) -> dict:
    """Run the sweep (see module docstring).

    Args:
        recipe: the run's recipe (``eval.times``, ``adapt``, the seed).
        deploy_chip: returns a freshly deployed chip, identical to the run's.
        stream: (x, y) of the target stream; ``data``: its dataset (arrival order);
            ``labelled``: which stream windows carry a label.
        x_test, y_test: held-out target windows.

    Returns:
        report.json's ``drift`` block: ``mode`` and, per time, ``times_s``, ``labels``,
        ``deployed``, ``adapted``, ``steps`` and ``adapt_energy_j``.
    """
    quiet = recipe.replace(**{"eval.every": 0, "monitor.checkpoint_every": 0,
                              "monitor.histograms_every": 0, "monitor.log_every": 1 << 30})
    timeline = recipe.eval.times_mode == "timeline"
    out: dict = {"mode": recipe.eval.times_mode, "times_s": [], "labels": [], "deployed": [],
                 "adapted": [], "steps": [], "adapt_energy_j": []}
    chip = rule = None
    for t in recipe.eval.times:
        if not timeline or chip is None:
            chip, rule = deploy_chip(), pm.build_rule(recipe)
        spent = sum(chip.ledger.account("learn")["energy"].values())
        set_time(chip, t)

        def measure(split: str = "target_test", chip: Any = chip) -> float:
            return pm.accuracy(chip, x_test, y_test, recipe.eval.mc_draws)

        before = measure()
        loop = OnlineLoop(recipe=quiet, chip=chip, rule=rule, stream=stream, data=data,
                          labelled=labelled, logger=MultiLogger([]), measure=measure,
                          save=lambda state: state)
        loop.start(before)
        loop.stream()
        after = loop.curves["eval_acc"][-1]
        energy = sum(chip.ledger.account("learn")["energy"].values()) - spent
        for key, v in (("times_s", float(t)), ("labels", fmt_duration(t)),
                       ("deployed", before), ("adapted", after), ("steps", loop.steps),
                       ("adapt_energy_j", float(energy))):
            out[key].append(v)
        log.info("after %s: deployed %.1f %%, adapted %.1f %% (%d steps)", fmt_duration(t),
                 100 * before, 100 * after, loop.steps)
    return out
