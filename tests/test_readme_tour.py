"""The README's tour runs as written, top to bottom, in a fresh copy of the repository.

The copy holds the tracked (and new, not ignored) files; only its shipped ``har_dfa`` recipe
is shrunk to the tests' tiny size (and TensorBoard off) so the tour takes seconds. Each line
is run as bash runs it -- ``;``-separated commands, ``#`` comments, globs expanded in sorted
order, in the copy's folder -- through the ``snnx`` entry point in this process (a
subprocess per command would spend seconds importing torch each time); the block may hold
only ``snnx`` commands, and ``tensorboard`` (a server that never returns), which is the one
line not run.
"""

from __future__ import annotations

import glob
import json
import re
import shlex
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


def commands(line: str) -> list[list[str]]:
    """The commands of one shell line, globs expanded as bash does."""
    lex = shlex.shlex(line, posix=True, punctuation_chars=";")
    lex.whitespace_split = True
    out: list[list[str]] = [[]]
    for w in lex:
        if w == ";":
            out.append([])
            continue
        hits = sorted(glob.glob(w)) if any(c in w for c in "*?[") else []
        out[-1] += hits or [w]
    return [argv for argv in out if argv]


def fresh_copy(dst: Path) -> None:
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for rel in files.splitlines():
        src = ROOT / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)


def test_readme_tour_runs_in_a_fresh_copy(tmp_path, monkeypatch, capsys):
    from snnx.cli import main
    from snnx.config.yamlio import dump
    from snnx.pipeline import recipe_files
    from snnx.pipeline.recipe_files import load_recipe

    clone = tmp_path / "clone"
    fresh_copy(clone)
    tiny = load_recipe(ROOT / "recipes" / "har_dfa.yaml", [
        *TINY, "monitor.checkpoint_every=3", "monitor.tensorboard=false"])
    (clone / "recipes" / "har_dfa.yaml").write_text(dump(tiny.to_dict()))
    monkeypatch.setattr(recipe_files, "recipes_dir", lambda: clone / "recipes")
    monkeypatch.chdir(clone)
    ran = []
    for line in tour():
        for argv in commands(line):
            assert argv[0] in ("snnx", "tensorboard"), line
            if argv[0] == "tensorboard":
                continue
            assert main(argv[1:]) == 0, (line, capsys.readouterr().err)
            ran.append(argv[1])
    out = capsys.readouterr().out
    assert ran.count("adapt") == 5 and "stream" in ran and "compare" in ran
    runs = clone / "runs"
    assert json.loads((runs / "tour" / "dfa" / "report.json").read_text())["rule"] == "dfa"
    names = sorted(p.name.split("-", 2)[-1] for p in (runs / "har_dfa").iterdir())
    assert names == ["bp", "logsgd-sigma0.02"]
    compare = next((runs / "compare").iterdir())
    assert (compare / "compare.png").stat().st_size > 1000
    table = (compare / "compare.txt").read_text()
    assert "logsgd, noise.read.constant.sigma=0.02" in table
    assert "\nbp " in table and "\ndfa " in table
    assert not (clone / "compare.png").exists()
    assert (runs / "tour" / "live" / "predictions.jsonl").stat().st_size > 0
    assert "nothing to resume" in out and "rram_generic" in out
