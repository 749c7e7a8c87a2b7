"""The numbers quoted in README.md and docs/pipeline.md are what docs/make_numbers.py gets
from real runs of the shipped recipes (one torch thread) on this machine."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("make_numbers", ROOT / "docs" / "make_numbers.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_rewrite_replaces_only_marked_blocks():
    mn = _script()
    text = ("a <!-- numbers:raw -->`old`<!-- /numbers:raw --> b\n"
            "<!-- numbers:compare -->\n```\nold\n```\n<!-- /numbers:compare -->\nc 58.4 %\n")
    out = mn.rewrite(text, {"raw": "`new`", "compare": "```\nt\n```"})
    assert out == ("a <!-- numbers:raw -->`new`<!-- /numbers:raw --> b\n"
                   "<!-- numbers:compare -->\n```\nt\n```\n<!-- /numbers:compare -->\nc 58.4 %\n")


def test_committed_numbers_are_what_the_runs_give(tmp_path):
    import torch

    mn = _script()
    threads = torch.get_num_threads()
    try:
        blocks = mn.render(tmp_path)
    finally:
        torch.set_num_threads(threads)
    for rel in mn.FILES:
        text = (ROOT / rel).read_text(encoding="utf-8")
        assert mn.rewrite(text, blocks) == text, f"{rel}: run python docs/make_numbers.py"
    names = {n for rel in mn.FILES for n in blocks
             if f"<!-- numbers:{n} -->" in (ROOT / rel).read_text(encoding="utf-8")}
    assert names == set(blocks)  # every block is used somewhere
    # the README's load_run script: raw samples give the run's own figure within 2 points
    raw, own = (float(v) for v in re.findall(r"([\d.]+) %", blocks["raw"]))
    assert abs(raw - own) <= 2.0
