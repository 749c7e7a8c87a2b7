"""``snnx sweep``: one recipe key over a list of values and seeds; the best value per recipe.

See :mod:`snnx.pipeline.sweep`. The result (``best.json``) feeds ``snnx compare --best``, so
that rules are compared at their own best learning rate.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from snnx.cli.common import add_set, add_threads, parse_sets, set_examples, set_threads
from snnx.cli.compare import check_seeds, default_out, load_recipes
from snnx.errors import SnnxError

HELP = "one recipe key over values and seeds (e.g. adapt.lr): the best value per recipe"

EXAMPLES = """\
  snnx sweep --recipes har_dfa har_bp har_logsgd --key adapt.lr --values 1e-3 3e-3 1e-2 --seeds 3
  snnx sweep --recipes har_dfa --key adapt.batch_size --values 4 8 16 --out runs/sweep_batch
  snnx compare --recipes har_dfa har_bp --seeds 5 --best runs/sweep/har_dfa+har_bp-adapt.lr
"""

SWEEP_FIRST_SEED = 1000
"""Default first seed of a sweep: apart from the seeds 0.. of the final comparison."""


def add_args(p: argparse.ArgumentParser) -> None:
    set_examples(p, EXAMPLES)
    p.add_argument("--recipes", "--recipe", nargs="+", required=True, metavar="R",
                   help="recipes (paths or shipped names); the best value is chosen per recipe")
    p.add_argument("--key", required=True, metavar="KEY", help="recipe key, e.g. adapt.lr")
    p.add_argument("--values", nargs="+", required=True, metavar="V",
                   help="values of KEY (parsed like --set values)")
    p.add_argument("--seeds", type=int, metavar="N", help="seeds per value (default 3)")
    p.add_argument("--first-seed", type=int, default=SWEEP_FIRST_SEED, metavar="K",
                   help=f"first seed (default {SWEEP_FIRST_SEED}: not the seeds a later "
                        f"`snnx compare` scores on)")
    add_set(p, "a key of every run")
    p.add_argument("--out", metavar="DIR",
                   help="folder of the runs and of sweep.csv/json/png and best.json; default "
                        "runs/sweep/<recipes>-<key> (runs reused there)")
    add_threads(p)


def run(args: argparse.Namespace) -> int:
    from snnx.pipeline.sweep import at_edge, best_values, sweep, sweep_table, write_sweep

    seeds = check_seeds(3 if args.seeds is None else args.seeds, args.first_seed)
    if args.key in parse_sets(args.set):
        raise SnnxError(f"--set: {args.key} is the swept key; give its values with --values")
    if len(set(args.values)) != len(args.values):
        raise SnnxError("--values: a value is listed twice")
    recipes = load_recipes(args.recipes, args.set)
    out = Path(args.out) if args.out else default_out(
        "sweep", [*recipes, args.key], list(args.set))
    set_threads(args.threads)
    total = len(recipes) * len(args.values) * len(seeds)
    print(f"{total} runs ({len(recipes)} recipe(s) x {len(args.values)} values x "
          f"{len(seeds)} seeds from {seeds[0]}) into {out}")
    rows = sweep(recipes, args.key, args.values, seeds, out,
                 verbose=getattr(args, "verbose", False))
    best = best_values(rows)
    files = write_sweep(rows, out, args.key, best)
    print(sweep_table(rows, args.key, best))
    print("best " + args.key + ": " + ", ".join(f"{k} {v}" for k, v in best.items()))
    edge = at_edge(args.values, best)
    if edge:
        print(f"note: the best {args.key} of {', '.join(edge)} is at the edge of --values; "
              f"the optimum may lie outside them (extend the values)")
    print("written: " + ", ".join(str(f) for f in files))
    print(f"compare at these values: snnx compare --recipes {' '.join(args.recipes)} "
          f"--seeds 5 --best {out}")
    return 0
