"""``snnx compare``: runs grouped over seeds, mean ± 95 % CI of every accuracy and cost.

Collect finished runs (``snnx compare runs/cmp``), or run recipes at several seeds first
(``snnx compare --recipes har_dfa har_bp --seeds 5``); see :mod:`snnx.pipeline.compare`.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

from snnx.cli.common import add_set, add_threads, set_examples, set_threads
from snnx.errors import SnnxError

HELP = "runs grouped over seeds: mean ± 95 % CI of accuracy, energy, latency and area"

EXAMPLES = """\
  snnx compare --recipes har_dfa har_bp har_logsgd --seeds 5 --out runs/cmp
  snnx compare --recipes har_dfa har_bp --seeds 5 --set data.label_rate=0.25
  snnx compare --recipes har_dfa har_bp --seeds 5 --best runs/sweep_lr   # each at its best lr
  snnx compare runs/cmp                     # collect finished runs (searched recursively)
  snnx compare runs/har_dfa/* runs/har_bp/* --out runs/cmp_old
"""


def add_args(p: argparse.ArgumentParser) -> None:
    set_examples(p, EXAMPLES)
    p.add_argument("runs", nargs="*", metavar="RUN_DIR",
                   help="finished run folders, or folders to search for them")
    p.add_argument("--recipes", nargs="+", metavar="R",
                   help="run these recipes (paths or shipped names) at --seeds seeds first")
    p.add_argument("--seeds", type=int, metavar="N",
                   help="seeds per recipe with --recipes (default 5): seeds K..K+N-1")
    p.add_argument("--first-seed", type=int, default=0, metavar="K",
                   help="first seed with --recipes (default 0)")
    add_set(p, "a key of every recipe run (with --recipes)")
    p.add_argument("--best", metavar="SWEEP_DIR",
                   help="apply the best value per recipe found by `snnx sweep --out "
                        "SWEEP_DIR` (its best.json)")
    p.add_argument("--out", metavar="DIR",
                   help="folder for compare.csv/json/png and (with --recipes) the runs; "
                        "default runs/compare/<recipes> (runs reused there) or "
                        "runs/compare/<time>")
    add_threads(p)


def check_seeds(n: int | None, first: int) -> list[int]:
    """Seeds ``first .. first+n-1``.

    Raises:
        SnnxError: ``--seeds`` below 1 or ``--first-seed`` out of range.
    """
    n = 5 if n is None else n
    if n < 1:
        raise SnnxError(f"--seeds: must be >= 1, got {n}")
    if not 0 <= first <= 2**32 - 1 - n:
        raise SnnxError(f"--first-seed: must be in [0, 2**32 - 1 - seeds], got {first}")
    return list(range(first, first + n))


def load_recipes(names: list[str], sets: list[str]) -> dict:
    """Label (the recipe's name) -> validated recipe with ``sets`` applied.

    Raises:
        SnnxError: a bad recipe or override (its key path), or two recipes of one name.
    """
    from snnx.pipeline.recipe_files import load_recipe

    recipes: dict = {}
    for name in names:
        recipe = load_recipe(name, sets)
        if recipe.name in recipes:
            raise SnnxError(f"--recipes: two recipes are named {recipe.name!r}; give one a "
                            f"different `name:`")
        recipes[recipe.name] = recipe
    return recipes


def default_out(kind: str, labels: list[str], extra: list[str]) -> Path:
    """``runs/<kind>/<labels>[-<hash of the options>]``: the same command finds its runs."""
    stem = "+".join(labels)
    if extra:
        stem += "-" + hashlib.sha1("\n".join(extra).encode()).hexdigest()[:8]
    return Path("runs") / kind / stem


def run(args: argparse.Namespace) -> int:
    from snnx.pipeline import compare as cmp
    from snnx.pipeline.folder import check_writable
    from snnx.pipeline.stats import stats_tables

    if args.recipes and args.runs:
        raise SnnxError("--recipes: give finished run folders or --recipes, not both")
    if not args.recipes:
        for flag, used in (("--seeds", args.seeds is not None), ("--set", args.set),
                           ("--best", args.best), ("--first-seed", args.first_seed != 0)):
            if used:
                raise SnnxError(f"{flag}: only used with --recipes")
        if not args.runs:
            raise SnnxError("compare: give finished run folders, or --recipes R ... to run")
    stem, out = "compare", Path(args.out) if args.out else None
    if out is not None and out.suffix.lower() == ".png":  # the figure's own path
        stem, out = out.stem, out.parent
    if args.recipes:
        seeds = check_seeds(args.seeds, args.first_seed)
        recipes = load_recipes(args.recipes, args.set)
        sets: dict = {}
        if args.best:
            from snnx.pipeline.sweep import read_best

            key, best = read_best(args.best)
            missing = [label for label in recipes if label not in best]
            if missing:
                raise SnnxError(f"--best: {args.best} has no best {key} for {missing[0]} "
                                f"(it has {', '.join(best) or 'none'})")
            sets = {label: [f"{key}={best[label]}"] for label in recipes}
            for label, recipe in recipes.items():  # validate before any run
                recipe.replace(*sets[label])
        extra = [*args.set, *(f"{k}:{v}" for k, s in sets.items() for v in s)]
        out = out or default_out("compare", list(recipes), extra)
        check_writable(out, "--out")  # before the runs, which write into it
        set_threads(args.threads)
        print(f"{len(recipes)} recipe(s) x {len(seeds)} seeds into {out}")
        reports, labels = cmp.run_seeds(recipes, seeds, out, sets=sets,
                                        verbose=getattr(args, "verbose", False))
        if not reports:
            raise SnnxError(f"compare: no finished run in {out}")
        rows = cmp.compare(reports, labels)
    else:
        out = out or Path("runs") / "compare" / time.strftime("%Y%m%d-%H%M%S")
        check_writable(out, "--out")
        rows = cmp.compare(cmp.collect(args.runs))
    files = cmp.write_outputs(rows, out, stem=stem)
    print(stats_tables(rows))
    print("written: " + ", ".join(str(f) for f in files))
    return 0
