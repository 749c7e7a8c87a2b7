"""Statistics over seeds: mean and 95 % confidence interval per group of runs.

A comparison is only as good as its spread: one seed of a recipe is one draw of the data
(subjects, held-out bouts), of the chip (variation, stuck cells, read noise) and of the
rule's randomness. :func:`group_runs` puts runs that differ only in their seed into one
group (the keys that do differ between groups name them, :func:`group_labels`), and
:func:`summarise` gives each metric per group as

    mean = (1/n) sum_i v_i,   s = sqrt(sum_i (v_i - mean)^2 / (n - 1)),
    CI95 = mean +- t_{0.975, n-1} s / sqrt(n)

(Student's t interval of the mean over the n seeds, which treats seeds as independent
draws; undefined for n = 1). Tables print ``mean ± half-width``.

Example:
    >>> s = mean_ci([0.80, 0.84, 0.88])
    >>> s["n"], round(s["mean"], 3), round(s["ci95"], 4)
    (3, 0.84, 0.0994)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from snnx.config.overrides import flatten
from snnx.pipeline.report import ENERGY_UNITS, TIME_UNITS

ACCURACIES = ("software", "software_target", "deployed", "adapted", "prequential",
              "adapted_source")
"""report.json ``accuracy`` keys summarised (fractions)."""

COSTS = ("energy_j", "latency_s", "area_m2", "steps", "pulses")
"""report.json ``cost`` keys summarised (SI units, counts)."""

CI_METHOD = ("mean ± half-width of the 95 % confidence interval of the mean over seeds: "
             "Student t with n-1 degrees of freedom, t(0.975, n-1) s/sqrt(n); n = seeds "
             "per group")

IGNORED = ("seed", "description", "device", "pretrain.checkpoint")
"""Config keys that never separate groups (``monitor.*`` neither): the seed is what a group
averages over; the others do not change what a run measures."""

FIRST_KEYS = ("name", "adapt.rule", "hw.preset")
"""Keys tried first when naming groups; their value alone is the label part."""


def t_quantile(p: float, df: int) -> float:
    """The p-quantile of Student's t distribution with ``df`` degrees of freedom."""
    from scipy.special import stdtrit

    return float(stdtrit(df, p))


def mean_ci(values: Iterable[float | None], level: float = 0.95) -> dict:
    """n, mean, sample standard deviation and CI half-width of the non-missing ``values``.

    Returns:
        ``{"n", "mean", "std", "ci95", "values"}``; ``std`` and ``ci95`` are None for
        n < 2, every statistic is None for n = 0.
    """
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(vals)
    out: dict = {"n": n, "mean": None, "std": None, "ci95": None, "values": vals}
    if not n:
        return out
    mean = math.fsum(vals) / n
    out["mean"] = mean
    if n > 1:
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in vals) / (n - 1))
        out["std"] = std
        out["ci95"] = t_quantile(0.5 + level / 2, n - 1) * std / math.sqrt(n)
    return out


def flatten_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """A nested recipe mapping as ``{"a.b.c": value}`` (:func:`snnx.config.flatten`), lists
    as tuples (hashable); an empty section (``hw.overrides: {}``) sets nothing.

    Example:
        >>> flatten_config({"adapt": {"rule": "dfa", "dfa": {"scale": 1.0}}, "seed": 3,
        ...                 "hw": {"overrides": {}}})
        {'adapt.rule': 'dfa', 'adapt.dfa.scale': 1.0, 'seed': 3}
    """
    return {k: _hashable(v) for k, v in flatten(cfg, where="config").items()
            if not (isinstance(v, Mapping) and not v)}


def _hashable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _hashable(v)) for k, v in value.items()))
    return value


def _ignored(key: str) -> bool:
    return key in IGNORED or key.startswith("monitor.")


_MISSING = "-"


def differing_keys(configs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Flat config keys whose value is not the same in every config (a key missing from
    some counts as differing), without the ignored ones (:data:`IGNORED`, ``monitor.*``)."""
    keys = sorted({k for c in configs for k in c})
    return [k for k in keys if not _ignored(k)
            and len({repr(c.get(k, _MISSING)) for c in configs}) > 1]


def group_runs(configs: Sequence[Mapping[str, Any]]) -> list[list[int]]:
    """Indices of ``configs`` grouped by the values of their :func:`differing_keys`, in the
    order each group first appears."""
    keys = differing_keys(configs)
    groups: dict[tuple, list[int]] = {}
    for i, c in enumerate(configs):
        groups.setdefault(tuple(repr(c.get(k, _MISSING)) for k in keys), []).append(i)
    return list(groups.values())


def _choice_block(key: str, configs: Sequence[Mapping[str, Any]]) -> bool:
    """``adapt.dfa.lr`` is a parameter block of the choice ``adapt.rule: dfa`` (a bp run has
    none): when the choice itself differs, its blocks add nothing to a label."""
    parts = key.split(".")
    if len(parts) < 3:
        return False
    prefix, block = parts[0] + ".", parts[1]
    return any(k.startswith(prefix) and k.count(".") == 1 and v == block
               for c in configs for k, v in c.items())


def _part(key: str, value: Any) -> str:
    if key in FIRST_KEYS:
        text = str(value)
        return text.rsplit("/", 1)[-1] if key == "hw.preset" else text
    short = key[len("hw.overrides."):] if key.startswith("hw.overrides.") else key
    return f"{short}={value}"


def group_labels(configs: Sequence[Mapping[str, Any]], groups: Sequence[Sequence[int]]
                 ) -> list[str]:
    """A label per group naming everything that differs between the groups (groups that
    differ in their rule AND their hardware say both: ``logsgd,
    noise.read.constant.sigma=0.02``): the value alone for :data:`FIRST_KEYS`, ``key=value``
    otherwise (``hw.overrides.`` dropped). A key that splits the groups exactly as an earlier
    one does (the recipe name ``har_bp`` and its rule ``bp``) adds nothing and is left out,
    and so are the parameter blocks of a differing choice (``adapt.dfa.*`` when the rule
    differs) and keys a group lacks."""
    reps = [configs[g[0]] for g in groups]
    keys = [k for k in differing_keys(reps)
            if not (any(k not in r for r in reps) and _choice_block(k, reps))]
    order = [k for k in FIRST_KEYS if k in keys] + [k for k in keys if k not in FIRST_KEYS]
    kept: list[str] = []
    seen: set = set()
    for k in order:
        split = tuple(repr(r.get(k, _MISSING)) for r in reps)
        pattern = tuple(split.index(v) for v in split)   # the partition, up to relabelling
        if pattern not in seen:
            seen.add(pattern)
            kept.append(k)
    if not kept:
        return ["all runs" if len(groups) == 1 else f"group {i + 1}" for i in range(len(groups))]
    return [", ".join(_part(k, r[k]) for k in kept if k in r) or "-" for r in reps]


def summarise(reports: Sequence[Mapping[str, Any]]) -> dict:
    """:func:`mean_ci` of every accuracy and cost of ``reports`` (one group's runs)."""
    stats = {k: mean_ci(r.get("accuracy", {}).get(k) for r in reports) for k in ACCURACIES}
    stats.update({k: mean_ci(r.get("cost", {}).get(k) for r in reports) for k in COSTS})
    return stats


# ------------------------------------------------------------------------------ formatting

def fmt_pm(stat: Mapping[str, Any], kind: str) -> str:
    """``mean ± ci`` in one unit: ``kind`` is ``acc`` (%), ``energy_j``, ``latency_s``,
    ``area_m2`` or ``count``.

    Example:
        >>> fmt_pm({"mean": 0.858, "ci95": 0.031}, "acc"), fmt_pm({"mean": 5.2e-6, "ci95": None}, "energy_j")
        ('85.8 ± 3.1', '5.2 µJ ± -')
    """
    mean, ci = stat.get("mean"), stat.get("ci95")
    if mean is None:
        return "-"
    if kind == "acc":
        return f"{100 * mean:.1f} ± " + ("-" if ci is None else f"{100 * ci:.1f}")
    if kind == "count":
        return f"{mean:.4g} ± " + ("-" if ci is None else _two(ci))
    if kind == "area_m2":
        scale, unit = 1e-6, "mm\u00b2"
    else:
        table = ENERGY_UNITS if kind == "energy_j" else TIME_UNITS
        scale, unit = next(((s, u) for s, u in table if abs(mean) >= s), table[-1])
    pm = "-" if ci is None else _two(ci / scale)
    return f"{mean / scale:.3g} {unit} ± {pm}"


def _two(x: float) -> str:
    """Two significant digits without an exponent: 0.034, 1.6, 160."""
    return f"{x:.0f}" if abs(x) >= 10 else f"{x:.2g}"


ACC_COLUMNS = (("software", "software"), ("software_target", "sw target"),
               ("deployed", "deployed"), ("adapted", "adapted"), ("prequential", "prequential"))
COST_COLUMNS = (("energy_j", "energy"), ("latency_s", "latency"), ("area_m2", "area"),
                ("steps", "steps"))


def text_table(head: Sequence[str], body: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns with a rule under the head."""
    widths = [max(len(str(row[i])) for row in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip()
             for row in [head, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def stats_tables(rows: Sequence[Mapping[str, Any]]) -> str:
    """The accuracy table (%) and the cost table of the adaptation, one row per group
    (``rows``: ``{"label", "n", "stats"}``), with the CI method stated."""
    acc = text_table(("group", "n", *(h for _, h in ACC_COLUMNS)),
                     [(r["label"], str(r["n"]), *(fmt_pm(r["stats"][k], "acc")
                                                   for k, _ in ACC_COLUMNS)) for r in rows])
    kinds = {"steps": "count"}
    cost = text_table(("group", "n", *(h for _, h in COST_COLUMNS), "E/E0", "t/t0", "A/A0"),
                      [(r["label"], str(r["n"]), *(fmt_pm(r["stats"][k], kinds.get(k, k))
                                                    for k, _ in COST_COLUMNS),
                        *(_ratio(r, rows[0], k) for k in ("energy_j", "latency_s", "area_m2")))
                       for r in rows])
    return "\n".join(["accuracy (%) on held-out windows: software = source subjects, the "
                      "others the target", *acc, "",
                      "cost of the on-chip adaptation (E/E0 ...: ratio of means to the first "
                      "group)", *cost, "", CI_METHOD])


def _ratio(row: Mapping[str, Any], base: Mapping[str, Any], key: str) -> str:
    num, den = row["stats"][key]["mean"], base["stats"][key]["mean"]
    return "-" if num is None or not den else f"{num / den:.2f}"


def csv_rows(rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """(header, rows) of compare.csv: per group and metric the mean, std, ci95 and n."""
    metrics = [*ACCURACIES, *COSTS]
    head = ["label", "n", "seeds"] + [f"{m}_{s}" for m in metrics
                                      for s in ("mean", "std", "ci95", "n")]
    body = []
    for r in rows:
        line = [r["label"], r["n"], " ".join(str(s) for s in r["seeds"])]
        for m in metrics:
            st = r["stats"][m]
            line += ["" if st[s] is None else st[s] for s in ("mean", "std", "ci95", "n")]
        body.append(line)
    return head, body
