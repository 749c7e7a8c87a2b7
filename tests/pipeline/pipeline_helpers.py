"""Helpers of the pipeline tests: tiny recipe overrides, in-process and subprocess CLI calls."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from snnx.cli import main

ROOT = Path(__file__).resolve().parents[2]
HAR_DFA = str(ROOT / "recipes" / "har_dfa.yaml")

#: a har_dfa run of a second or two: 3 subjects of 6 windows per activity, a 16-unit SNN
TINY = ["data.source_subjects=2", "data.synthetic_har.windows_per_activity=6",
        "data.synthetic_har.target_windows_per_activity=null", "data.target_test_fraction=null",
        "model.hidden=[16]",
        "model.snn.timesteps=4", "pretrain.steps=12", "pretrain.val_every=4", "pretrain.batch_size=16", "eval.mc_draws=1", "eval.every=10",
        "monitor.log_every=5", "monitor.histograms_every=10", "monitor.checkpoint_every=0",
        "adapt.batch_size=4", "adapt.lr=1e-2"]


def as_sets(items) -> list[str]:
    """``--set`` arguments for the overrides ``items``."""
    return [a for item in items for a in ("--set", item)]


def sets(*extra: str) -> list[str]:
    """``--set`` arguments for TINY plus ``extra`` overrides."""
    return as_sets([*TINY, *extra])


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Run ``snnx`` in this process; (exit code, stdout, stderr)."""
    code = main(list(argv))
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def subprocess_snnx(*argv: str, cwd: Path, **kw) -> subprocess.Popen:
    """Start ``snnx`` in a subprocess (``python -m snnx.cli``) in folder ``cwd``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "snnx.cli", *argv], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def report(run_dir: Path) -> dict:
    return json.loads((run_dir / "report.json").read_text())


def metric_lines(run_dir: Path) -> list[tuple]:
    """(tag, step, value) of every scalar in metrics.jsonl (wall-clock times dropped)."""
    out = []
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if "tag" in rec:
            out.append((rec["tag"], rec["step"], rec["value"]))
    return out


#: report.json blocks a resumed or repeated run must reproduce exactly
COMPARED = ("accuracy", "cost", "inference", "rule_setup", "stream", "curves")
