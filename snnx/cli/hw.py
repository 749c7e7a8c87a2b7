"""``snnx hw``: list the shipped hardware presets, show one resolved with each key's meaning."""

from __future__ import annotations

import argparse

from snnx.cli.common import Parser, add_set, parse_sets

HELP = "hardware presets: list, show"


def add_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="hw_cmd", required=True, parser_class=Parser)
    sub.add_parser("list", help="list the shipped hardware presets")
    show = sub.add_parser("show", help="print a preset (resolved, with each field's meaning)")
    show.add_argument("name", help="preset name (e.g. rram_generic) or a YAML path")
    add_set(show, "a hardware key", "periphery.adc_bits=6")
    show.add_argument("--yaml", action="store_true", help="print plain resolved YAML")


def run(args: argparse.Namespace) -> int:
    from snnx.config.yamlio import dump
    from snnx.hw import presets

    if args.hw_cmd == "list":
        for name in presets.list_presets():
            print(f"{name:<14} {presets.load(name).description}")
        return 0
    cfg = presets.load(args.name, **parse_sets(args.set))
    if args.yaml:
        print(dump(cfg.to_dict()), end="")
        return 0
    print(f"{cfg.name}: {cfg.description}")
    for s in cfg.source:
        print(f"  source: {s}")
    for n in cfg.notes:
        print(f"  note:   {n}")
    for key, value, doc in presets.describe(cfg):
        if key in ("name", "description", "source", "notes"):
            continue
        print(f"  {key:<32} {value!s:<12} {doc}")
    return 0
