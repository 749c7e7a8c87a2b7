"""What a run reports: report.json, figures and the summary line.

Costs come from the chip's :class:`~snnx.hw.ledger.CostLedger` only: its accounts
``learn`` (the rule's on-chip steps), ``infer`` (the stream's predictions) and ``setup``
(the rule's one-off hardware, e.g. DFA's feedback tiles) become the ``cost``,
``inference`` and ``rule_setup`` blocks (:meth:`CostLedger.report`). Transforms add their
own blocks (``encryption``, ``reprogram``: :func:`snnx.transforms.attach_report`).

Units: SI inside; the summary prints pJ .. J, ns .. s and mm^2.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any


ENERGY_UNITS = ((1.0, "J"), (1e-3, "mJ"), (1e-6, "\u00b5J"), (1e-9, "nJ"), (1e-12, "pJ"))
TIME_UNITS = ((1.0, "s"), (1e-3, "ms"), (1e-6, "\u00b5s"), (1e-9, "ns"))


def _fmt(value: float, table: tuple) -> str:
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return f"0 {table[-1][1]}"
    scale, unit = next(((s, u) for s, u in table if abs(value) >= s), table[-1])
    return f"{value / scale:.3g} {unit}"


def fmt_energy(j: float) -> str:
    """``3.49e-06`` -> ``'3.49 µJ'``."""
    return _fmt(j, ENERGY_UNITS)


def fmt_time(s: float) -> str:
    """``1.2e-05`` -> ``'12 µs'``."""
    return _fmt(s, TIME_UNITS)


def fmt_area(m2: float) -> str:
    """``1.19e-06`` -> ``'1.19 mm²'``."""
    return f"{m2 * 1e6:.3g} mm\u00b2"


def fmt_acc(a: float | None) -> str:
    """``0.8612`` -> ``'86.1 %'``."""
    return "-" if a is None else f"{100 * a:.1f} %"


def summary_lines(report: Mapping[str, Any]) -> list[str]:
    """The short summary ``snnx adapt`` prints at the end."""
    acc, cost = report["accuracy"], report.get("cost")
    lines = [f"run        {report['run_dir']}",
             f"accuracy   software {fmt_acc(acc.get('software'))} (source subjects)  |  "
             f"on the target: software {fmt_acc(acc.get('software_target'))}, deployed "
             f"{fmt_acc(acc.get('deployed'))}, adapted {fmt_acc(acc.get('adapted'))}"]
    warning = (report.get("pretrain") or {}).get("warning")
    if warning:
        lines.append(f"warning    {warning}")
    if cost:
        lines.append(f"adaptation {report['rule']}: {cost['steps']} on-chip steps, energy "
                     f"{fmt_energy(cost['energy_j'])}, latency {fmt_time(cost['latency_s'])}, "
                     f"area {fmt_area(cost['area_m2'])}")
    return lines


def write_json(path: str | os.PathLike, data: Mapping[str, Any]) -> Path:
    """Write JSON atomically (temporary file, then rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, allow_nan=False, default=float) + "\n",
                   encoding="utf-8")
    os.replace(tmp, path)
    return path


def build_report(*, recipe: Any, hw_name: str, run_dir: Path, accuracy: Mapping[str, Any],
                 ledger: Any, steps: int, stream: Mapping[str, Any], data_info: Mapping,
                 model: Mapping[str, Any], curves: Mapping[str, Any],
                 timing: Mapping[str, float], threads: int,
                 pretrain: Mapping[str, Any] | None = None,
                 extra: Mapping[str, Mapping] | None = None) -> dict:
    """report.json of a finished run (see the module docstring for the cost blocks);
    ``pretrain`` is the pretraining summary (:mod:`snnx.pipeline.pretrain`); ``extra``: the
    transforms' blocks by name (:func:`snnx.transforms.transform_reports`), copied as they
    are."""
    rep = {"recipe": recipe.name, "rule": recipe.adapt.rule, "seed": recipe.seed, "hw": hw_name,
           "run_dir": str(run_dir), "accuracy": dict(accuracy),
           "cost": ledger.report("learn", steps), "inference": ledger.report("infer"),
           "rule_setup": ledger.report("setup"), "stream": dict(stream),
           "data": data_info, "model": dict(model), "curves": curves, "timing": dict(timing),
           "threads": threads, "pretrain": dict(pretrain or {})}
    for block in ("inference", "rule_setup"):
        for key in ("area_m2", "area_by_component", "steps", "energy_per_step_j"):
            rep[block].pop(key)
    for name, block in (extra or {}).items():
        rep.setdefault(name, dict(block))
    return rep


def write_figures(run_dir: Path, report: Mapping[str, Any]) -> list[Path]:
    """accuracy_stream.png (held-out and prequential accuracy along the stream) and
    energy_split.png (adaptation energy by operation)."""
    from snnx.monitor.figures import plot_energy_split, plot_stream_accuracy

    curves, acc = report["curves"], report["accuracy"]
    series = {"held-out target windows": (curves["eval_pos"], curves["eval_acc"])}
    if curves["preq_pos"]:
        series["prequential, last 50 windows"] = (curves["preq_pos"], curves["preq_acc"])
    names = {"software": "software, source subjects", "software_target": "software, target"}
    ref = {names[k]: acc[k] for k in names if acc.get(k) is not None}
    out = [plot_stream_accuracy(curves["eval_pos"], series, run_dir / "accuracy_stream.png",
                                reference=ref, title=f"{report['recipe']}: accuracy along the "
                                                     f"target stream ({report['rule']})")]
    out.append(plot_energy_split(report["cost"]["energy_by_op"], run_dir / "energy_split.png",
                                 title=f"Adaptation energy by operation ({report['rule']})"))
    return out
