"""What a run reports: cost bookkeeping, report.json, figures, the summary and ``compare``.

Costs are kept as plain dicts of floats (``{"energy": {op: J}, "latency_by_op": {op: s},
"counts": {op: n}, "latency_s": s}``) so they go into checkpoints and JSON unchanged and add
up in a fixed order (a resumed run sums exactly the same numbers).

Units: SI inside; the summary and the ``compare`` table print pJ .. J, ns .. s and mm^2.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from snnx.errors import SnnxError

_ENERGY = ((1.0, "J"), (1e-3, "mJ"), (1e-6, "\u00b5J"), (1e-9, "nJ"), (1e-12, "pJ"))
_TIME = ((1.0, "s"), (1e-3, "ms"), (1e-6, "\u00b5s"), (1e-9, "ns"))


def empty_cost() -> dict:
    """A zero cost record."""
    return {"energy": {}, "latency_by_op": {}, "counts": {}, "latency_s": 0.0}


def add_cost(acc: dict, delta: Mapping[str, Any]) -> None:
    """Add a ``CostLedger.since()`` difference to ``acc`` in place (zero entries skipped)."""
    for key in ("energy", "latency_by_op", "counts"):
        for op, v in delta[key].items():
            if v:
                acc[key][op] = acc[key].get(op, 0.0) + float(v)
    acc["latency_s"] += float(delta["latency_s"])


def cost_summary(cost: Mapping[str, Any], area_m2: float, area_by_component: Mapping,
                 steps: int) -> dict:
    """report.json's ``cost`` block for accumulated ``cost``."""
    energy = float(sum(cost["energy"].values()))
    return {"energy_j": energy, "latency_s": float(cost["latency_s"]), "area_m2": float(area_m2),
            "steps": int(steps), "energy_per_step_j": energy / steps if steps else 0.0,
            "pulses": float(cost["counts"].get("pulse", 0.0)),
            "energy_by_op": dict(cost["energy"]), "latency_by_op": dict(cost["latency_by_op"]),
            "counts": dict(cost["counts"]), "area_by_component": dict(area_by_component)}


def _fmt(value: float, table: tuple) -> str:
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return f"0 {table[-1][1]}"
    scale, unit = next(((s, u) for s, u in table if abs(value) >= s), table[-1])
    return f"{value / scale:.3g} {unit}"


def fmt_energy(j: float) -> str:
    """``3.49e-06`` -> ``'3.49 µJ'``."""
    return _fmt(j, _ENERGY)


def fmt_time(s: float) -> str:
    """``1.2e-05`` -> ``'12 µs'``."""
    return _fmt(s, _TIME)


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


def write_figures(run_dir: Path, report: Mapping[str, Any]) -> list[Path]:
    """accuracy_stream.png (held-out and prequential accuracy along the stream) and
    energy_split.png (adaptation energy by operation)."""
    from snnx.monitor import plot_energy_split, plot_stream_accuracy

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


# ------------------------------------------------------------------------------- compare

def read_report(run_dir: str | os.PathLike) -> dict:
    """report.json of a finished run.

    Raises:
        SnnxError: ``compare: <dir> ...`` when the folder holds no readable report.
    """
    path = Path(run_dir) / "report.json"
    if not path.is_file():
        raise SnnxError(f"compare: {run_dir} has no report.json (not a finished snnx run)")
    try:
        rep = json.loads(path.read_text(encoding="utf-8"))
        rep["accuracy"], rep["cost"]  # noqa: B018 - required keys
    except (OSError, ValueError, KeyError, TypeError):
        raise SnnxError(f"compare: {path} is not a readable snnx report") from None
    return rep


def compare_rows(reports: Sequence[Mapping[str, Any]]) -> list[dict]:
    """One row per run for the table and :func:`snnx.monitor.plot_rule_comparison`."""
    rows = []
    for rep in reports:
        acc, cost = rep["accuracy"], rep["cost"]
        label = rep["rule"]
        if sum(r["rule"] == rep["rule"] for r in reports) > 1:
            label = f"{rep['rule']} ({rep['recipe']}, seed {rep.get('seed')})"
        rows.append({"rule": label, "run": rep["run_dir"], "software": acc.get("software"),
                     "deployed": acc.get("deployed"), "accuracy": acc.get("adapted"),
                     "energy_j": cost["energy_j"], "latency_s": cost["latency_s"],
                     "area_m2": cost["area_m2"], "steps": cost.get("steps", 0)})
    return rows


def compare_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A plain-text table, plus each cost as a ratio to the first run."""
    head = ("rule", "software", "deployed", "adapted", "energy", "latency", "area",
            "E/E0", "t/t0", "A/A0")
    base = rows[0]

    def ratio(r: Mapping, key: str) -> str:
        return f"{r[key] / base[key]:.2f}" if base[key] else "-"

    body = [(r["rule"], fmt_acc(r["software"]), fmt_acc(r["deployed"]), fmt_acc(r["accuracy"]),
             fmt_energy(r["energy_j"]), fmt_time(r["latency_s"]), fmt_area(r["area_m2"]),
             ratio(r, "energy_j"), ratio(r, "latency_s"), ratio(r, "area_m2")) for r in rows]
    widths = [max(len(str(x[i])) for x in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip()
             for line in [head, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    runs = [f"  {r['rule']}: {r['run']}" for r in rows]
    return "\n".join(lines + ["", "adapted accuracy on held-out target windows; cost of the "
                              "on-chip adaptation (ratios to the first row)", "runs:", *runs])
