"""``snnx compare``: finished runs side by side (table and figure).

Example:
    >>> rows = compare_rows([{"rule": "dfa", "recipe": "r", "run_dir": "a",
    ...     "accuracy": {"adapted": 0.8}, "cost": {"energy_j": 1e-6, "latency_s": 1e-4,
    ...     "area_m2": 1e-6}}])
    >>> rows[0]["rule"], rows[0]["accuracy"]
    ('dfa', 0.8)
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from snnx.errors import SnnxError
from snnx.pipeline.report import fmt_acc, fmt_area, fmt_energy, fmt_time

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
