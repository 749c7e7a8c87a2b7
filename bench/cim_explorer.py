"""Benchmark of the CIM-Explorer BNN/TNN crossbar modes (METHODS.md 6, "Show it works").

Trains a binary net (BNN) and a ternary net (TNN), 64 -> 256 -> 256 -> 10, on scikit-learn's
8x8 digits (1347 train / 450 test images, stratified split, seed 0; pixels binarised at 0.5
for the BNN, x = round(2 p) - 1 for the TNN), one net per seed. Every layer, the first one
included, then runs on 256 x 256 crossbars in one mode (BNN: bnn_i..bnn_vi, TNN:
tnn_i..tnn_v), I_H / I_L = 5 / 30 uA, for each ADC resolution (alpha calibrated per layer
as the 0.999 quantile of |ADC input| over 256 training images that run through the same
hardware) and each HRS spread sigma_H (D2D, one draw per layer and seed; sigma_L fixed).
The seed sets both the training and the variation draw, so the spread covers both.

Prints, per net and mode, the test accuracy (mean +- std over seeds) and its ratio to the
software accuracy of the same nets (the baseline, measured in this process), along two
slices of the full grid (ADC bits at sigma_H = 0; sigma_H with the ideal ADC) plus the cost
per inference (cells, cycles, ADC conversions). The CSV holds every grid point and seed.

Run: PYTHONPATH=. /work/main/.venv/bin/python bench/cim_explorer.py --out runs/cim_explorer
     [--seeds 0 1 2] [--bits 3 4 5 6 8 ideal] [--sigma-h 0 1 2 4 8] [--epochs 30]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from snnx.data import load_digits_dataset
from snnx.nn.binary import BNN, encode_inputs, train_bnn
from snnx.nn.binary_eval import accuracy_table, plot_accuracy, summarize, write_csv


def _bits(s: str) -> int | None:
    return None if s in ("ideal", "inf", "none") else int(s)


def _fmt(vals: list[float]) -> str:
    mean = statistics.fmean(vals)
    std = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return f"{mean:.3f}+-{std:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="folder for cim_explorer.csv / .png")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--bits", type=_bits, nargs="+", default=[3, 4, 5, 6, 8, None])
    ap.add_argument("--sigma-h", type=float, nargs="+", default=[0, 1, 2, 4, 8],
                    help="HRS current spread in uA")
    ap.add_argument("--sigma-l", type=float, default=0.0, help="LRS current spread in uA")
    ap.add_argument("--nets", nargs="+", default=["binary", "ternary"])
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 256, 256, 10])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--quantile", type=float, default=0.999)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sig_h = [s * 1e-6 for s in args.sigma_h]

    train, test = load_digits_dataset(test_frac=0.25, seed=0).source_target()
    rows, software = [], {}
    t0 = time.perf_counter()
    for kind in args.nets:
        xtr = encode_inputs(torch.tensor(train.X[:, 0]), kind)
        xte = encode_inputs(torch.tensor(test.X[:, 0]), kind).long()
        ytr, yte = torch.tensor(train.y), torch.tensor(test.y)
        for seed in args.seeds:
            net = BNN(args.sizes, kind=kind, seed=seed)
            train_bnn(net, xtr, ytr, epochs=args.epochs, lr=args.lr, seed=seed)
            with torch.no_grad():
                acc = float((net(xte.float()).argmax(1) == yte).double().mean())
            software.setdefault(kind, []).append(acc)
            rows += accuracy_table(net, xte, yte, x_cal=xtr[:256].long(), adc_bits=args.bits,
                                   sigma_h=sig_h, sigma_l=args.sigma_l * 1e-6, seeds=[seed],
                                   quantile=args.quantile)
    elapsed = time.perf_counter() - t0

    summ = summarize(rows)
    out = Path(args.out)
    write_csv(rows, out / "cim_explorer.csv")
    write_csv(summ, out / "cim_explorer_summary.csv")
    plot_accuracy(summ, out / "cim_explorer.png")

    by = {(r["net"], r["mode"], r["adc_bits"], r["sigma_h"]): r for r in summ}
    bit_cols = [b for b in args.bits]
    for kind in args.nets:
        base = statistics.fmean(software[kind])
        print(f"\n== {kind} net {args.sizes}, software accuracy {_fmt(software[kind])} "
              f"({len(args.seeds)} seeds); cells are mean+-std, (ratio to software) ==")
        head = ["mode", "cells", "cyc", "ADC"]
        head += [f"b={'ideal' if b is None else b}" for b in bit_cols]
        head += [f"sH={s:g}uA" for s in args.sigma_h if s > 0]
        print("  ".join(f"{h:>18}" if i > 3 else f"{h:>8}" for i, h in enumerate(head)))
        for mode in sorted({r["mode"] for r in summ if r["net"] == kind}):
            first = by[(kind, mode, bit_cols[0], sig_h[0])]
            cells = [f"{mode:>8}", f"{first['cells']:>8}", f"{first['cycles']:>8}",
                     f"{first['adc_conversions']:>8}"]
            pts = [(b, sig_h[0]) for b in bit_cols]
            pts += [(None, s) for s in sig_h if s > 0] if None in bit_cols else []
            for b, s in pts:
                r = by[(kind, mode, b, s)]
                cells.append(f"{r['mean']:.3f}+-{r['std']:.3f}({r['mean'] / base:.2f})"
                             .rjust(18))
            print("  ".join(cells))
    print(f"\n{len(rows)} grid points in {elapsed:.0f} s; full grid (every bits x sigma_H "
          f"pair and seed) in {out / 'cim_explorer.csv'}, figure {out / 'cim_explorer.png'}")


if __name__ == "__main__":
    main()
