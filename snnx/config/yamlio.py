"""Strict YAML in and out, and the data folders shipped with snnx (presets, recipes).

:class:`Loader` is PyYAML's SafeLoader with two fixes: ``1e-3`` is a float (YAML 1.2 style;
YAML 1.1 would read a string) and a duplicate key is an error instead of a silent overwrite.
:func:`read_yaml` turns every problem into one :class:`~snnx.errors.ConfigError` line that
names the file (and line). Imports only the standard library and PyYAML.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import yaml

from snnx.errors import ConfigError


class Loader(yaml.SafeLoader):
    """SafeLoader that reads 1e-3 as a float and refuses duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)):
                continue
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


class Dumper(yaml.SafeDumper):
    """Block-style sections, flow-style lists: ``hidden: [128, 64]``."""


Dumper.add_representer(list, lambda dumper, value: dumper.represent_sequence(
    "tag:yaml.org,2002:seq", value, flow_style=True))


def one_line(text: Any) -> str:
    """Any message folded onto one line."""
    return " ".join(str(text).split())


def parse(text: str, where: str) -> Any:
    """Parse YAML text strictly; errors name ``where`` (and the line)."""
    try:
        return yaml.load(text, Loader=Loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{where}{line}: {one_line(e.problem or e.context)} (not valid "
                          f"YAML)") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{where}: not valid YAML ({one_line(e)})") from None


def read_yaml(path: str | Path, what: str) -> dict:
    """Read a YAML file holding a mapping.

    Args:
        path: the file.
        what: the key path errors start with (``recipe``, ``hw``).

    Raises:
        ConfigError: unreadable, invalid YAML, empty, or not a mapping at top level.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{what}: cannot read {path} ({one_line(getattr(e, 'strerror', None) or e)})") from None
    data = parse(text, f"{what}: {path}")
    if data is None:
        raise ConfigError(f"{what}: {path} is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"{what}: {path} must hold a mapping at top level, got a "
                          f"{type(data).__name__}")
    return data


def dump(data: Any, header: str = "") -> str:
    """YAML text of plain data (block sections, flow lists), with an optional header."""
    return header + yaml.dump(data, Dumper=Dumper, sort_keys=False, width=100,
                              allow_unicode=True)


def shipped_dir(folder: str, package: str) -> Path | None:
    """A data folder shipped with snnx: ``<repo>/<folder>`` in a source checkout or editable
    install, else the installed data-only package ``package`` (e.g. ``snnx.presets``)."""
    root = Path(__file__).resolve().parents[2]
    if (root / folder).is_dir() and (root / "pyproject.toml").is_file():
        return root / folder
    try:
        found = importlib.util.find_spec(package)
    except ModuleNotFoundError:
        return None
    locations = list(getattr(found, "submodule_search_locations", None) or [])
    return Path(locations[0]) if locations else None
