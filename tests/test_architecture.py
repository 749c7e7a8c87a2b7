"""The shape of the package (DESIGN.md layers): few loose modules, small modules, no import
circles, every package shipped."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "snnx"
MODULES = sorted(p for p in PKG.rglob("*.py"))
MAX_LINES = 400


def _name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _module_level_imports(path: Path) -> set[str]:
    """snnx modules imported at module level (function-level imports are lazy on purpose)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in tree.body:
        if isinstance(node, ast.If):  # e.g. TYPE_CHECKING blocks are not imports at run time
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("snnx")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("snnx"):
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    known = {_name(p) for p in MODULES}
    return {m for m in out if m in known and m != _name(path)}


GRAPH = {_name(p): _module_level_imports(p) for p in MODULES}


def test_at_most_four_loose_top_level_modules():
    loose = sorted(p.name for p in PKG.glob("*.py"))
    assert len(loose) <= 4, loose


@pytest.mark.parametrize("path", MODULES, ids=[_name(p) for p in MODULES])
def test_module_is_small(path):
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{_name(path)} has {n} lines (split it by concern)"


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (found := visit(m)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def _package(mod: str) -> str:
    return mod if (PKG / Path(*mod.split(".")[1:]) / "__init__.py").exists() else \
        mod.rpartition(".")[0]


def test_no_import_circle_between_modules():
    # a package's __init__ importing its own modules is how re-exports work: not a circle
    graph = {m: {d for d in deps if not (d.startswith(m + ".") and _package(m) == m)}
             for m, deps in GRAPH.items()}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_no_import_circle_between_packages():
    graph: dict[str, set[str]] = defaultdict(set)
    for mod, deps in GRAPH.items():
        for d in deps:
            a, b = _package(mod), _package(d)
            if a != b and not b.startswith(a + ".") and not a.startswith(b + "."):
                graph[a].add(b)
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_every_package_is_shipped():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    listed = set(re.findall(r'"(snnx[\w.]*)"', text.split("packages = [", 1)[1].split("]")[0]))
    found = {_name(p.parent / "__init__.py") for p in PKG.rglob("__init__.py")}
    assert found <= listed, f"add to pyproject.toml packages: {sorted(found - listed)}"
