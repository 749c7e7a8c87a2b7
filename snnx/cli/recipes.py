"""``snnx recipes``: list the shipped recipes, show one resolved."""

from __future__ import annotations

import argparse

from snnx.cli.common import Parser, add_set

HELP = "shipped recipes: list, show"


def add_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="recipes_cmd", required=True, parser_class=Parser)
    sub.add_parser("list", help="list the shipped recipes")
    show = sub.add_parser("show", help="print a recipe resolved (defaults filled in)")
    show.add_argument("recipe")
    add_set(show)


def run(args: argparse.Namespace) -> int:
    from snnx.pipeline.recipe_files import list_recipes, load_recipe

    if args.recipes_cmd == "list":
        for name in list_recipes():
            print(f"{name:<16} {load_recipe(name).description}")
        return 0
    print(load_recipe(args.recipe, args.set).to_yaml(), end="")
    return 0
