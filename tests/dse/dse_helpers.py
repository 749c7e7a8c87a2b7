"""Helpers of the dse tests: a tiny search (trials of a fraction of a second), CLI calls,
reading a study back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipeline"))
from pipeline_helpers import as_sets, cli  # noqa: E402,F401  (one CLI helper for all tests)

ROOT = Path(__file__).resolve().parents[2]
DSE_HAR = str(ROOT / "recipes" / "dse_har.yaml")

#: dse_har with trials of ~0.3 s: 2 source subjects of 6 windows per activity, a 16-unit SNN
#: of 4 steps; model.hidden leaves the space; cheap = 1 epoch, full = 2 epochs
TINY = ["data.source_subjects=2", "data.synthetic_har.windows_per_activity=6",
        "model.hidden=[16]", "model.snn.timesteps=4", "pretrain.batch_size=16",
        "adapt.batch_size=4", "dse.space.model.hidden=null", "dse.startup=2",
        "dse.population=2", "dse.fidelity.cheap.pretrain.epochs=1",
        "dse.fidelity.full.pretrain.epochs=2"]


def sets(*extra: str) -> list[str]:
    """``--set`` arguments for TINY plus ``extra``."""
    return as_sets([*TINY, *extra])


def popen(*argv: str, cwd: Path) -> subprocess.Popen:
    """``snnx`` in a subprocess."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    return subprocess.Popen([sys.executable, "-m", "snnx", *argv], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def trials(url: str, study: str) -> list:
    """Every trial of ``study`` in storage ``url`` (FrozenTrial)."""
    import optuna

    from snnx.dse.study import with_driver

    return optuna.load_study(study_name=study, storage=with_driver(url)).get_trials(
        deepcopy=False)


def states(url: str, study: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in trials(url, study):
        out[t.state.name] = out.get(t.state.name, 0) + 1
    return out


def check_complete_trials(url: str, study: str, fields: list[str]) -> list:
    """Assert that each complete trial has its own run folder whose report.json holds the
    trial's values (no trial lost, none run twice); return the complete trials."""
    done = [t for t in trials(url, study) if t.state.name == "COMPLETE"]
    numbers = [t.number for t in done]
    assert len(set(numbers)) == len(numbers)
    own = [t for t in done if "same_as" not in t.user_attrs]
    dirs = [t.user_attrs["run_dir"] for t in own]
    assert len(set(dirs)) == len(dirs), "two trials share a run folder"
    for t in own:
        rep = json.loads((Path(t.user_attrs["run_dir"]) / "report.json").read_text())
        for field, value in zip(fields, t.values):
            block, key = field.split(".", 1)
            assert rep[block][key] == value
    return done
