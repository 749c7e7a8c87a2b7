"""``snnx cim``: the CIM-Explorer table -- accuracy of a binary/ternary network over crossbar
mapping x ADC bits x cell-current variation (METHODS.md section 6).

Reads a recipe (``model.kind: bnn``: its data, widths, pretraining; its hardware preset gives
the cell currents, I = G V_read: ``binary_cim`` is HRS/LRS 5/30 uA), trains one net per seed
and kind off-chip, then runs every layer (the first one too) on 256 x 256 crossbars in each
mapping mode (:mod:`snnx.nn.binary_map`) for each ADC resolution (range calibrated per layer
on 256 training windows that pass the same hardware) and each HRS current spread sigma_H
(device-to-device, one draw per layer and seed). Accuracy is measured on the held-out windows
(source_test and target_test). Prints the table (mean +- std over seeds, ratio to the
software accuracy) and writes, into ``--out``: ``cim_explorer.csv`` (every point and seed),
``cim_explorer_summary.csv``, ``cim_explorer.png`` and ``report.json`` (block ``cim``).

Examples::

    snnx cim --recipe recipes/cim_explorer.yaml
    snnx cim --recipe cim_explorer --modes bnn_i bnn_iii bnn_vi --bits 3 4 6 ideal --sigma-h 0 4 8
    snnx cim --recipe cim_explorer --nets binary ternary --seeds 0 1 2 --out runs/cim
    snnx cim --recipe cim_explorer --set model.hidden=[128,128] --set pretrain.epochs=10
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from snnx.cli.common import add_set, add_threads, set_examples, set_threads
from snnx.errors import ConfigError

HELP = "CIM-Explorer table: BNN/TNN accuracy over crossbar mapping x ADC bits x variation"


def _bits(text: str) -> int | None:
    if text.lower() in ("ideal", "inf", "none"):
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'ideal', got {text!r}")


def add_args(p: argparse.ArgumentParser) -> None:
    set_examples(p, __doc__.split("Examples::\n")[1])
    add_threads(p)
    p.add_argument("--recipe", default="cim_explorer", metavar="R",
                   help="recipe with model.kind: bnn (default: the shipped cim_explorer)")
    add_set(p, "a recipe key", "model.hidden=[128,128]")
    p.add_argument("--modes", nargs="+", metavar="MODE",
                   help="mapping modes (default: every mode of the net's kind)")
    p.add_argument("--bits", type=_bits, nargs="+", default=[3, 4, 5, 6, 8, None],
                   metavar="B", help="ADC resolutions, 'ideal' = no ADC (default 3 4 5 6 8 "
                                     "ideal)")
    p.add_argument("--sigma-h", type=float, nargs="+", default=[0.0, 1.0, 2.0, 4.0, 8.0],
                   metavar="UA", help="HRS current spread in uA (default 0 1 2 4 8)")
    p.add_argument("--sigma-l", type=float, default=0.0, metavar="UA",
                   help="LRS current spread in uA (default 0)")
    p.add_argument("--nets", nargs="+", choices=("binary", "ternary"),
                   help="binary and/or ternary nets (default: model.bnn.weights)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                   help="one trained net and variation draw per seed (default 0 1 2)")
    p.add_argument("--quantile", type=float, default=0.999,
                   help="profiled-current quantile that sets each layer's ADC range")
    p.add_argument("--out", metavar="DIR", help="output folder (default runs/<recipe>/<time>/)")


def _check(args: argparse.Namespace, recipe, kinds: list[str]) -> list[str] | None:
    """Validate the sweep (one-line errors naming the option); the modes to run."""
    from snnx.config.registry import suggest
    from snnx.nn.binary_map import MODES

    for m in args.modes or []:
        if m not in MODES:
            raise ConfigError(f"--modes: {m!r} is not one of {', '.join(MODES)}"
                              f"{suggest(m, MODES)}")
        if "ternary" in kinds and MODES[m].kind == "bnn":
            raise ConfigError(f"--modes: {m} needs +-1 values; a ternary net runs on tnn_* "
                              f"modes only")
    for b in args.bits:
        if b is not None and not 2 <= b <= 16:
            raise ConfigError(f"--bits: ADC resolutions must be in [2, 16] or 'ideal', got {b}")
    for s in [*args.sigma_h, args.sigma_l]:
        if not 0 <= s < 1e3:
            raise ConfigError(f"--sigma-h: spreads must be in [0, 1000) uA, got {s:g}")
    if not 0 < args.quantile <= 1:
        raise ConfigError(f"--quantile: must be in (0, 1], got {args.quantile:g}")
    return args.modes


def _table(summary: list[dict], kind: str, software: list[float], args) -> list[str]:
    base = statistics.fmean(software)
    sig = [s * 1e-6 for s in args.sigma_h]
    by = {(r["mode"], r["adc_bits"], r["sigma_h"]): r for r in summary if r["net"] == kind}
    pts = [(b, sig[0]) for b in args.bits] + ([(None, s) for s in sig[1:]]
                                              if None in args.bits else [])
    head = ["mode", "cells", "cycles", "ADC"] + [
        f"b={'ideal' if b is None else b}" if s == sig[0] else f"sH={s * 1e6:g}uA"
        for b, s in pts]
    lines = [f"== {kind} net, software accuracy {base:.3f} ({len(software)} seeds); "
             f"mean+-std (ratio to software); b = ADC bits at sigma_H = {args.sigma_h[0]:g} "
             f"uA, sH = HRS spread with an ideal ADC ==",
             "  ".join(f"{h:>7}" if i < 4 else f"{h:>18}" for i, h in enumerate(head))]
    for mode in sorted({m for m, _, _ in by}):
        first = by[(mode, *pts[0])]
        cells = [f"{mode:>7}", f"{first['cells']:>7}", f"{first['cycles']:>7}",
                 f"{first['adc_conversions']:>7}"]
        for b, s in pts:
            r = by[(mode, b, s)]
            cells.append(f"{r['mean']:.3f}+-{r['std']:.3f}({r['mean'] / base:.2f})".rjust(18))
        lines.append("  ".join(cells))
    return lines


def run(args: argparse.Namespace) -> int:
    import torch

    from snnx.nn.binary import train_bnn
    from snnx.nn.binary_eval import accuracy_table, plot_accuracy, summarize, write_csv
    from snnx.nn.binary_map import MODES, BinaryCell
    from snnx.nn.bnn import BinaryNet
    from snnx.pipeline.data import prepare
    from snnx.pipeline.folder import new_run_dir
    from snnx.pipeline.recipe_files import load_recipe
    from snnx.pipeline.report import write_json

    recipe = load_recipe(args.recipe, args.set)
    if recipe.model.kind != "bnn":
        raise ConfigError(f"model.kind: snnx cim needs a bnn model, got {recipe.model.kind!r}")
    kinds = args.nets or [recipe.model_params.weights]
    _check(args, recipe, kinds)
    set_threads(args.threads)
    out = Path(args.out) if args.out else new_run_dir(recipe)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"--out: {out} exists and is not an empty folder")
    cell = BinaryCell.from_hw(recipe.hw_config())
    d = prepare(recipe)
    flat = lambda part: torch.from_numpy(part.X.reshape(len(part.X), -1))  # noqa: E731
    x_tr, y_tr = flat(d.source_train), torch.from_numpy(d.source_train.y)
    x_te = torch.cat([flat(d.source_test), flat(d.target_test)])
    y_te = torch.cat([torch.from_numpy(d.source_test.y), torch.from_numpy(d.target_test.y)])
    sizes = [x_tr.shape[1], *recipe.model.hidden, d.n_classes]
    p, t0 = recipe.pretrain, time.perf_counter()
    rows, software = [], {}
    for kind in kinds:
        modes = args.modes or [m for m, s in MODES.items() if s.kind == kind[0] + "nn"]
        for seed in args.seeds:
            net = BinaryNet(sizes, kind, recipe.model_params.delta, seed)
            train_bnn(net, x_tr, y_tr, epochs=max(p.epochs, 1), lr=p.lr, batch=p.batch_size,
                      seed=seed)
            with torch.no_grad():
                acc = float((net(x_te).argmax(1) == y_te).double().mean())
            software.setdefault(kind, []).append(acc)
            rows += accuracy_table(net, net.encode_input(x_te).long(), y_te,
                                   x_cal=net.encode_input(x_tr[:256]).long(), modes=modes,
                                   adc_bits=args.bits, sigma_h=[s * 1e-6 for s in args.sigma_h],
                                   sigma_l=args.sigma_l * 1e-6, seeds=[seed],
                                   quantile=args.quantile, cell=cell, tag=kind)
    summary = summarize(rows)
    out.mkdir(parents=True, exist_ok=True)
    files = [write_csv(rows, out / "cim_explorer.csv"),
             write_csv(summary, out / "cim_explorer_summary.csv"),
             plot_accuracy(summary, out / "cim_explorer.png",
                           sigma_for_bits=args.sigma_h[0] * 1e-6)]
    write_json(out / "report.json", {"recipe": recipe.name, "cim": {
        "cell_i_h_a": cell.i_h, "cell_i_l_a": cell.i_l, "sizes": sizes,
        "test_windows": len(y_te), "software_accuracy": software,
        "adc_bits": ["ideal" if b is None else b for b in args.bits],
        "sigma_h_ua": args.sigma_h, "sigma_l_ua": args.sigma_l, "seeds": args.seeds,
        "table": [{k: ("ideal" if v is None and k == "adc_bits" else v) for k, v in r.items()}
                  for r in summary]}})
    for kind in kinds:
        print("\n".join(_table(summary, kind, software[kind], args)) + "\n")
    print(f"{len(rows)} grid points in {time.perf_counter() - t0:.0f} s; wrote "
          f"{', '.join(str(f) for f in files)} and {out / 'report.json'}")
    return 0
