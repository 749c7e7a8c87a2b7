"""The README's tour runs as written, top to bottom, in a fresh copy of the repository.

The copy holds the tracked (and new, not ignored) files; only its shipped ``har_dfa`` recipe
is shrunk to the tests' tiny size (and TensorBoard off) so the tour takes seconds. ``tensorboard`` (a server that
never returns) is the one line not run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "pipeline"))
from pipeline_helpers import TINY  # noqa: E402


def tour() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- tour -->\n```bash\n(.*?)```", text, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def fresh_copy(dst: Path) -> None:
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for rel in files.splitlines():
        src = ROOT / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)


def test_readme_tour_runs_in_a_fresh_copy(tmp_path):
    from snnx.config.yamlio import dump
    from snnx.pipeline.recipe_files import load_recipe

    clone = tmp_path / "clone"
    fresh_copy(clone)
    tiny = load_recipe(ROOT / "recipes" / "har_dfa.yaml", [  # TensorBoard off: faster imports
        *TINY, "monitor.checkpoint_every=3", "monitor.tensorboard=false"])
    (clone / "recipes" / "har_dfa.yaml").write_text(dump(tiny.to_dict()))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "snnx").write_text(f'#!/bin/sh\nexec {sys.executable} -m snnx.cli "$@"\n')
    (bin_dir / "snnx").chmod(0o755)
    lines = [line for line in tour() if not line.startswith("tensorboard ")]
    assert len(lines) == len(tour()) - 1
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PYTHONPATH": str(clone),
           "MPLBACKEND": "Agg"}
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", "\n".join(lines)], cwd=clone,
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = clone / "runs"
    assert json.loads((runs / "tour" / "dfa" / "report.json").read_text())["rule"] == "dfa"
    names = sorted(p.name.split("-", 2)[-1] for p in (runs / "har_dfa").iterdir())
    assert names == ["bp", "logsgd-sigma0.02"]
    compare = next((runs / "compare").iterdir())
    assert (compare / "compare.png").stat().st_size > 1000
    table = (compare / "compare.txt").read_text()
    assert "logsgd, sigma=0.02" in table and "\nbp " in table and "\ndfa " in table
    assert not (clone / "compare.png").exists()
    assert (runs / "tour" / "live" / "predictions.jsonl").stat().st_size > 0
    assert "nothing to resume" in proc.stdout and "rram_generic" in proc.stdout
