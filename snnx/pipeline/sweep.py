"""``snnx sweep``: one recipe key over a list of values, several seeds each; the best value
per recipe.

Rules should be compared at their own best learning rate, not at one shared value that
suits one of them (METHODS.md 13). :func:`sweep` runs every recipe at every value of
``key`` and every seed into ``<out>/<recipe>/<key>=<value>/seed<k>`` (reused when there,
as in ``snnx compare``), summarises each (recipe, value) over its seeds and picks, per
recipe, the value with the highest mean adapted accuracy (the first on a tie). ``best.json``
holds the choice; ``snnx compare --best <out>`` applies it.

The sweep's seeds should not be the seeds of the final comparison: a value chosen on the
same held-out windows it is then scored on is scored too high (selection bias). The CLI
starts the sweep's seeds at 1000 for that reason (the data, chip and rule draws of seed
1000 are unrelated to those of seeds 0..4).

Example:
    >>> best_values([{"label": "dfa", "value": "1e-3", "stats": {"adapted": {"mean": 0.8}}},
    ...              {"label": "dfa", "value": "3e-3", "stats": {"adapted": {"mean": 0.9}}}])
    {'dfa': '3e-3'}
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from snnx.config.overrides import parse_override
from snnx.errors import SnnxError
from snnx.pipeline import compare as cmp
from snnx.pipeline import stats as st

BEST_FILE = "best.json"
METRIC = "adapted"
_SAFE = re.compile(r"[A-Za-z0-9_.+-]+")


def value_dir(key: str, raw: str) -> str:
    """Folder name of one value: ``<key>=<value>``.

    Raises:
        SnnxError: a value that cannot be a folder name.
    """
    if not _SAFE.fullmatch(raw):
        raise SnnxError(f"--values: {raw!r} cannot name a folder; use letters, digits and "
                        f"_ . + - only")
    return f"{key}={raw}"


def best_values(rows: Sequence[Mapping[str, Any]], metric: str = METRIC) -> dict[str, str]:
    """Label -> the value with the highest mean ``metric`` (the first on a tie)."""
    best: dict[str, tuple[float, str]] = {}
    for r in rows:
        mean = r["stats"][metric]["mean"]
        if mean is None:
            continue
        if r["label"] not in best or mean > best[r["label"]][0]:
            best[r["label"]] = (mean, r["value"])
    return {label: value for label, (_, value) in best.items()}


def at_edge(values: Sequence[str], best: Mapping[str, str]) -> list[str]:
    """Labels whose best value is the smallest or largest of three or more numeric
    ``values`` (the optimum may lie outside the grid: extend it).

    Example:
        >>> at_edge(["1e-3", "3e-3", "1e-2"], {"dfa": "1e-2", "bp": "3e-3"})
        ['dfa']
    """
    nums = [parse_override(f"v={v}")[1] for v in values]
    if len(values) < 3 or not all(isinstance(n, (int, float)) and not isinstance(n, bool)
                                  for n in nums):
        return []
    ends = {values[nums.index(min(nums))], values[nums.index(max(nums))]}
    return [label for label, v in best.items() if v in ends]


def sweep(recipes: Mapping[str, Any], key: str, values: Sequence[str], seeds: Sequence[int],
          out: Path, *, verbose: bool = False, progress: Any = print) -> list[dict]:
    """Run the grid (module docstring); returns one row per (recipe, value): ``label``,
    ``value`` (as given), ``n``, ``seeds``, ``runs`` and ``stats`` (metric -> mean_ci).

    Raises:
        ConfigError: ``key`` or a value the recipe rejects, before anything runs.
    """
    grid = {(label, raw): recipe.replace(f"{key}={raw}")
            for label, recipe in recipes.items() for raw in values}  # validates every value
    for raw in values:
        value_dir(key, raw)
    rows, total, i = [], len(grid) * len(seeds), 0
    with cmp.quiet(verbose):
        for (label, raw), recipe in grid.items():
            reports = []
            for seed in seeds:
                i += 1
                where = out / label / value_dir(key, raw) / f"seed{seed}"
                done = (where / cmp.REPORT).is_file()
                rep = cmp.run_one(recipe.replace(f"seed={seed}"), where)
                if rep is None:
                    continue
                reports.append(rep)
                progress(f"[{i}/{total}] {label} {key}={raw} seed {seed}: {METRIC} "
                         f"{100 * rep['accuracy'].get(METRIC, float('nan')):.1f} %"
                         + (" (reused)" if done else ""))
            rows.append({"label": label, "value": raw, "n": len(reports),
                         "seeds": [r.get("seed") for r in reports],
                         "runs": [r["run_dir"] for r in reports], "stats": st.summarise(reports)})
    return rows


def sweep_table(rows: Sequence[Mapping[str, Any]], key: str, best: Mapping[str, str]) -> str:
    """The sweep as text: one row per (recipe, value), ``*`` on each recipe's best."""
    cols = (("adapted", "adapted"), ("deployed", "deployed"), ("prequential", "prequential"),
            ("software", "software"))
    body = [(r["label"], f"{r['value']}{' *' if best.get(r['label']) == r['value'] else ''}",
             str(r["n"]), *(st.fmt_pm(r["stats"][k], "acc") for k, _ in cols)) for r in rows]
    lines = st.text_table(("recipe", key, "n", *(h for _, h in cols)), body)
    return "\n".join(["accuracy (%) on held-out windows; * = best mean adapted accuracy",
                      *lines, "", st.CI_METHOD])


def write_sweep(rows: Sequence[Mapping[str, Any]], out: Path, key: str,
                best: Mapping[str, str]) -> list[Path]:
    """sweep.csv, sweep.json, sweep.png and best.json in ``out``."""
    from snnx.monitor.figures import plot_sweep
    from snnx.pipeline.report import write_json

    labelled = [{**r, "label": f"{r['label']}, {key}={r['value']}"} for r in rows]
    files = cmp.write_outputs(labelled, out, stem="sweep", figure=False,
                              extra={"key": key, "metric": METRIC, "best": dict(best)})
    series: dict[str, list] = {}
    for r in rows:
        series.setdefault(r["label"], []).append((parse_override(f"v={r['value']}")[1],
                                                  r["stats"]))
    files.append(plot_sweep(series, out / "sweep.png", key=key))
    write_json(out / BEST_FILE, {"key": key, "metric": METRIC, "best": dict(best)})
    files.append(out / BEST_FILE)
    return files


def read_best(folder: str | Path) -> tuple[str, dict[str, str]]:
    """(key, label -> best value) of a sweep folder.

    Raises:
        SnnxError: ``--best: ...`` when the folder holds no readable best.json.
    """
    path = Path(folder) / BEST_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return str(data["key"]), {str(k): str(v) for k, v in data["best"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise SnnxError(f"--best: {path} is missing or unreadable (run snnx sweep --out "
                        f"{folder} first)") from None
