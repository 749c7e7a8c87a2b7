"""Recipe files: the shipped recipes (``recipes/``), finding one by name, loading one.

Example:
    >>> "har_dfa" in list_recipes()
    True
    >>> load_recipe("har_dfa").name
    'har_dfa'
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from snnx.config.registry import suggest
from snnx.config.yamlio import read_yaml, shipped_dir
from snnx.errors import ConfigError
from snnx.pipeline.recipe import Recipe, apply_overrides, build_recipe


def recipes_dir() -> Path | None:
    """The folder of shipped recipes: repository ``recipes/`` or the installed copy."""
    return shipped_dir("recipes", "snnx.recipe_files")


def list_recipes() -> list[str]:
    """Names of the shipped recipes (relative paths without suffix, e.g. ``har_dfa``)."""
    root = recipes_dir()
    if root is None:
        return []
    files = [p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()]
    return sorted(p.relative_to(root).with_suffix("").as_posix() for p in files)


def recipe_name(path_or_name: str | Path) -> str:
    """The default run name of a recipe file: its stem (``recipes/har_dfa.yaml`` -> har_dfa)."""
    return Path(path_or_name).stem


def resolve_recipe_path(name_or_path: str | Path) -> Path:
    """Find a recipe: an existing path wins, else a shipped name (``har_dfa`` or ``har_dfa.yaml``).

    Raises:
        ConfigError: ``recipe: ...`` with the closest shipped name.
    """
    p = Path(name_or_path).expanduser()
    if p.is_file():
        return p
    if p.is_dir():
        raise ConfigError(f"recipe: {p} is a folder, not a recipe file")
    rel = p.as_posix()
    rel = rel[len("recipes/"):] if rel.startswith("recipes/") else rel
    root = recipes_dir()
    if root is not None and not p.is_absolute():
        for cand in (rel, rel + ".yaml", rel + ".yml"):
            if (root / cand).is_file():
                return root / cand
    names = list_recipes()
    stem = str(Path(rel).with_suffix("")) if Path(rel).suffix in (".yaml", ".yml") else rel
    raise ConfigError(f"recipe: no such file or shipped recipe {str(name_or_path)!r}"
                      f"{suggest(stem, names, 0.5)} (shipped: {', '.join(names) or 'none'})")


def load_recipe(path_or_name: str | Path, overrides: Iterable[str] = ()) -> Recipe:
    """Read, override and validate a recipe.

    Relative paths inside the recipe (an ``hw`` file, a data file, ``pretrain.checkpoint``)
    are taken from the working folder, as on the command line.

    Args:
        path_or_name: a YAML path, or a shipped recipe name (``har_dfa``).
        overrides: ``key.path=value`` strings, applied in order (later wins).

    Returns:
        The validated, frozen :class:`Recipe`; ``name`` defaults to the file stem.

    Raises:
        ConfigError: one line starting with the key path (``recipe`` for file problems).
    """
    path = resolve_recipe_path(path_or_name)
    data = apply_overrides(read_yaml(path, "recipe"), overrides)
    data.setdefault("name", recipe_name(path))
    return build_recipe(data)
