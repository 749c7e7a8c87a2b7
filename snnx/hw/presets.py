"""Hardware presets: the YAML files in ``hw_models/`` and :func:`load` (no torch).

A preset is a hardware model in YAML (see :mod:`snnx.hw.config`); a variant is a preset name
plus dotted-key overrides, never a new file or class. Preset files are parsed once per
process and cached (keyed by path and modification time).

Example:
    >>> cfg = load("rram_generic", **{"noise.read.constant.sigma": 0.02})
    >>> cfg.name, cfg.noise.read["constant"].sigma
    ('rram_generic', 0.02)
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any, Mapping

from snnx.config.overrides import flatten
from snnx.config.registry import suggest
from snnx.config.schema import describe as describe_cfg
from snnx.config.yamlio import read_yaml, shipped_dir
from snnx.errors import ConfigError
from snnx.hw.config import HWConfig, from_dict


def presets_dir() -> Path:
    """The folder holding the shipped presets (repository ``hw_models/`` or the installed copy)."""
    found = shipped_dir("hw_models", "snnx.presets")
    if found is None:  # pragma: no cover - broken installation
        raise ConfigError("hw: the shipped presets (snnx.presets) are missing from this install")
    return found


def list_presets() -> list[str]:
    """Names of the shipped presets."""
    return sorted(p.stem for p in presets_dir().glob("*.yaml"))


def resolve_preset(name_or_path: str | Path) -> Path:
    """Path of a preset given by name (``rram_generic``) or by an existing file path.

    Raises:
        ConfigError: ``hw: unknown preset ...`` with the closest shipped name.
    """
    p = Path(name_or_path)
    if p.is_file():
        return p
    cand = presets_dir() / (p.name if p.suffix else p.name + ".yaml")
    if cand.is_file() and (p.parent == Path(".")):
        return cand
    names = list_presets()
    raise ConfigError(f"hw: unknown preset or missing file {str(name_or_path)!r}"
                      f"{suggest(name_or_path, names, 0.5)} (presets: {', '.join(names)})")


@functools.lru_cache(maxsize=32)
def _parsed(path: str, mtime_ns: int) -> dict:
    return read_yaml(path, "hw")


def read_preset(name_or_path: str | Path) -> dict:
    """The raw mapping of a preset file (parsed once per process and modification time)."""
    path = resolve_preset(name_or_path)
    return copy.deepcopy(_parsed(str(path.resolve()), path.stat().st_mtime_ns))


def load(name_or_path: str | Path | HWConfig | Mapping = "rram_generic",
         **overrides: Any) -> HWConfig:
    """Load a hardware model.

    Args:
        name_or_path: a preset name in ``hw_models/`` (``"rram_generic"``), a YAML path,
            a mapping, or an HWConfig (overrides are applied on top).
        **overrides: dotted keys (``**{"periphery.adc_bits": 6}``) or sections as dicts
            (``noise={"prog_sigma": 0.02}``).

    Returns:
        A validated, frozen :class:`HWConfig`.

    Raises:
        ConfigError: unknown preset, unreadable file, unknown key, wrong type or value out of
            range; the message names the dotted key path.
    """
    if isinstance(name_or_path, HWConfig):
        return name_or_path.replace(**overrides) if overrides else name_or_path
    if isinstance(name_or_path, Mapping):
        return from_dict(name_or_path, overrides)
    return from_dict(read_preset(name_or_path), overrides)


def describe(cfg: HWConfig) -> list[tuple[str, Any, str]]:
    """(dotted key, value, doc) rows for every leaf of a config, model parameters included."""
    return describe_cfg(cfg)


__all__ = ["describe", "flatten", "list_presets", "load", "presets_dir", "read_preset",
           "resolve_preset"]
