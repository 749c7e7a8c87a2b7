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


def _flat(d: Any, prefix: str = "") -> dict:
    if not isinstance(d, Mapping):
        return {prefix[:-1]: d}
    out: dict = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}."))
    return out


def _config(rep: Mapping[str, Any]) -> dict:
    from snnx.config.yamlio import parse

    path = Path(rep["run_dir"]) / "config.resolved.yaml"
    try:
        return _flat(parse(path.read_text(encoding="utf-8"), str(path)) or {})
    except (OSError, SnnxError):
        return {"adapt.rule": rep["rule"], "name": rep["recipe"], "seed": rep.get("seed")}


def _choice_block(key: str, configs: Sequence[dict]) -> bool:
    """``adapt.dfa.lr`` belongs to the choice ``adapt.rule: dfa`` (absent in a bp run)."""
    parts = key.split(".")
    if len(parts) < 3:
        return False
    prefix, block = parts[0] + ".", parts[1]
    return any(k.startswith(prefix) and k.count(".") == 1 and v == block
               for c in configs for k, v in c.items())


def run_labels(reports: Sequence[Mapping[str, Any]]) -> list[str]:
    """A label per run naming what differs between the runs' resolved configs: the rule's
    name for ``adapt.rule``, ``<key>=<value>`` for any other key (the key's last part unless
    two differing keys share it; a key a run lacks, e.g. an ``hw.overrides`` entry, is left
    out of its label, and so are the parameter blocks of a differing choice such as
    ``adapt.dfa.*``); the run folder's name when two runs do not differ.

    Example:
        >>> run_labels([{"rule": "dfa", "recipe": "r", "run_dir": "/nonexistent/a"},
        ...             {"rule": "bp", "recipe": "r", "run_dir": "/nonexistent/b"}])
        ['dfa', 'bp']
    """
    configs = [_config(rep) for rep in reports]
    keys = sorted({k for c in configs for k in c} - {"description"})
    differ = [k for k in keys if len({repr(c.get(k)) for c in configs}) > 1
              and not (any(k not in c for c in configs) and _choice_block(k, configs))]
    if len(differ) > 1 and "name" in differ:  # the recipe's name, when more than it differs
        differ.remove("name")
    ends = [k.split(".")[-1] for k in differ]
    short = {k: (e if ends.count(e) == 1 else k) for k, e in zip(differ, ends)}
    labels = []
    for c, rep in zip(configs, reports):
        parts = [str(c[k]) if k == "adapt.rule" else f"{short[k]}={c[k]}"
                 for k in differ if k in c]
        labels.append(", ".join(parts) or rep["rule"])
    for i, lab in enumerate(labels):
        if labels.count(lab) > 1:
            labels[i] = f"{lab} ({Path(reports[i]['run_dir']).name})"
    return labels


def compare_rows(reports: Sequence[Mapping[str, Any]]) -> list[dict]:
    """One row per run for the table and :func:`snnx.monitor.plot_rule_comparison`; the
    ``rule`` column is the run's label (:func:`run_labels`)."""
    rows = []
    for rep, label in zip(reports, run_labels(reports)):
        acc, cost = rep["accuracy"], rep["cost"]
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
