"""The ``snnx`` command line.

Every user error (bad recipe, bad override, unknown preset, unreadable file) prints ONE line
``snnx: error: <key.path>: <what is wrong>`` to stderr and exits with status 2, without a
traceback. Subcommands are registered in :data:`COMMANDS` (name -> (help, add_args, run)).

Examples::

    snnx hw list
    snnx hw show rram_generic --set periphery.adc_bits=6
    snnx recipes list
    snnx adapt --recipe recipes/har_dfa.yaml --set adapt.rule=bp
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable

from snnx.errors import SnnxError

log = logging.getLogger("snnx")

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line with exit status 2."""

    def error(self, message: str) -> None:  # pragma: no cover - exercised via CLI tests
        self.exit(EXIT_USAGE, f"snnx: error: {message}\n")


def _parse_sets(items: list[str] | None) -> dict:
    """``--set key=value`` items for hardware overrides (values parsed as YAML scalars)."""
    from snnx.recipes import parse_override

    out = {}
    for item in items or []:
        key, value = parse_override(item)
        out[key] = value
    return out


# ----------------------------------------------------------------------------- hw
def _hw_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="hw_cmd", required=True, parser_class=_Parser)
    sub.add_parser("list", help="list the shipped hardware presets")
    show = sub.add_parser("show", help="print a preset (resolved, with each field's meaning)")
    show.add_argument("name", help="preset name (e.g. rram_generic) or a YAML path")
    show.add_argument("--set", action="append", metavar="KEY=VALUE",
                      help="override a key, e.g. --set periphery.adc_bits=6 (repeatable)")
    show.add_argument("--yaml", action="store_true", help="print plain resolved YAML")


def _hw_run(args: argparse.Namespace) -> int:
    import yaml

    from snnx.hw import config as hwc

    if args.hw_cmd == "list":
        for name in hwc.list_presets():
            c = hwc.load(name)
            print(f"{name:<14} {c.description}")
        return 0
    cfg = hwc.load(args.name, **_parse_sets(args.set))
    if args.yaml:
        print(yaml.safe_dump(cfg.to_dict(), sort_keys=False), end="")
        return 0
    print(f"{cfg.name}: {cfg.description}")
    for s in cfg.source:
        print(f"  source: {s}")
    for n in cfg.notes:
        print(f"  note:   {n}")
    for key, value, doc in hwc.describe(cfg):
        if key in ("name", "description", "source", "notes"):
            continue
        print(f"  {key:<32} {value!s:<12} {doc}")
    return 0


# ----------------------------------------------------------------------------- recipes
def _recipes_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="recipes_cmd", required=True, parser_class=_Parser)
    sub.add_parser("list", help="list the shipped recipes")
    show = sub.add_parser("show", help="print a recipe resolved (defaults filled in)")
    show.add_argument("recipe")
    show.add_argument("--set", action="append", metavar="KEY=VALUE", default=[])


def _recipes_run(args: argparse.Namespace) -> int:
    from snnx import recipes

    if args.recipes_cmd == "list":
        for name in recipes.list_recipes():
            r = recipes.load_recipe(name)
            print(f"{name:<16} {r.description}")
        return 0
    print(recipes.load_recipe(args.recipe, args.set).to_yaml(), end="")
    return 0


# ----------------------------------------------------------------------------- data
def _data_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="data_cmd", required=True, parser_class=_Parser)
    info = sub.add_parser("info", help="summarise an HDF5 file or a UCI HAR folder")
    info.add_argument("path")
    conv = sub.add_parser("convert", help="convert a UCI HAR Dataset folder to snnx HDF5")
    conv.add_argument("src", help="the 'UCI HAR Dataset' folder")
    conv.add_argument("dst", help="output .h5 file")


def _data_run(args: argparse.Namespace) -> int:
    from snnx.data import commands

    if args.data_cmd == "info":
        print(commands.info(args.path))
        return 0
    commands.convert_uci(args.src, args.dst)
    print(f"wrote {args.dst}")
    return 0


COMMANDS: dict[str, tuple[str, Callable, Callable]] = {
    "hw": ("hardware presets: list, show", _hw_args, _hw_run),
    "recipes": ("shipped recipes: list, show", _recipes_args, _recipes_run),
    "data": ("datasets: info, convert", _data_args, _data_run),
}


#: modules that contribute subcommands through a COMMANDS dict of their own
PLUGINS = ("snnx.pipeline_cli", "snnx.nf_cli")


def _register_plugins() -> None:
    import importlib

    for mod in PLUGINS:
        try:
            COMMANDS.update(importlib.import_module(mod).COMMANDS)
        except ModuleNotFoundError as e:  # pragma: no cover - a plugin not written yet
            if e.name != mod:
                raise


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered subcommand."""
    _register_plugins()
    p = _Parser(prog="snnx", description="Neural networks on simulated RRAM crossbars, "
                "adapted on-line on the crossbar.")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (help_, add_args, _run) in COMMANDS.items():
        add_args(sub.add_parser(name, help=help_, description=help_))
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``snnx`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(message)s")
    try:
        return COMMANDS[args.command][2](args) or 0
    except SnnxError as e:
        print(f"snnx: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # pragma: no cover
        print("snnx: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
