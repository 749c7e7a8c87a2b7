"""Benchmark of MDM (METHODS.md section 1, "Show it works" (a)): NF vs array size, baseline
vs MDM (a script, not a test).

One tile per size n fills exactly one n x n array per side: W (n/8 x n) Gaussian, 8-bit
magnitudes bit-sliced at 1 bit/cell (interleaved, MSB first), differential pair,
G_on/G_off = 100/2 uS, w_max = max|W|. Inputs are bit-serial 8-bit (7 magnitude planes,
V = 0.2 V per plane bit) of ReLU activations with a different mean per row,
x_i = max(0, mu_i + N(0, 1)), mu_i ~ U[-1, 1]; MDM's calibration batch is drawn separately
from the evaluation batch. NF (exact solver, r_row = r_col = r) is averaged over the two
arrays (G+ and G-) and over seeds; reduction = 1 - NF_mdm / NF_baseline.

Columns: baseline (natural order), MDM with p_i = 1 (no calibration), MDM with p_i from the
calibration batch, and the reversed MDM order (busiest farthest), which must be worse.

Run: /work/venv/bin/python bench/mdm.py [--sizes 64 128 256 512] [--seeds 3]
"""

from __future__ import annotations

import argparse
import time

import torch

import snnx.hw as hw
from snnx.transforms.mdm import array_nf, input_activity, plan


def setup(n: int, seed: int):
    cfg = hw.load("ideal", **{
        "array.rows": n, "array.cols": n, "array.w_headroom": 1.0,
        "periphery.weight_bits": 8, "periphery.bits_per_cell": 1,
        "periphery.input_bit_serial": True, "periphery.dac_bits": 8})
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(n // 8, n, generator=g, dtype=torch.float64)
    mu = torch.rand(n, generator=g, dtype=torch.float64) * 2 - 1
    def acts(b):
        return (mu + torch.randn(b, n, generator=g, dtype=torch.float64)).clamp(min=0)
    return hw.Tile(W, cfg, seed=seed), acts(64), acts(64)


def nf_row(n: int, r: float, seeds: int) -> dict:
    keys = ("base", "mdm", "mdm_cal", "rev")
    acc = dict.fromkeys(keys, 0.0)
    for seed in range(seeds):
        tile, calib, x = setup(n, seed)
        W = tile.read_weight()
        acc["base"] += float(array_nf(tile, x, r_row=r, r_col=r).mean())
        p = input_activity(tile, calib)
        for key, act, rev in (("mdm", None, False), ("mdm_cal", p, False), ("rev", p, True)):
            tile.set_mapping(*plan(tile, act, reverse=rev), W=W)
            acc[key] += float(array_nf(tile, x, r_row=r, r_col=r).mean())
            tile.set_mapping(None, None, W=W)
    return {k: v / seeds for k, v in acc.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--r", type=float, nargs="+", default=[1.0, 2.5])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1: the solver's small solves suffer on shared cores)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"NF (exact solver), Gaussian 8-bit weights, 1 bit/cell, bit-serial 8-bit inputs, "
          f"mean of G+/G- arrays and {args.seeds} seeds")
    print(f"{'array':>8} {'r[ohm]':>6} {'NF base':>8} {'NF mdm':>8} {'red.':>7} "
          f"{'NF mdm+cal':>10} {'red.':>7} {'NF reversed':>11} {'vs base':>8} {'[s]':>5}")
    for n in args.sizes:
        for r in args.r:
            t0 = time.perf_counter()
            m = nf_row(n, r, args.seeds)
            b = m["base"]
            print(f"{n:>5}^2 {r:>6.1f} {b:>8.1%} {m['mdm']:>8.1%} {1 - m['mdm'] / b:>7.1%} "
                  f"{m['mdm_cal']:>10.1%} {1 - m['mdm_cal'] / b:>7.1%} {m['rev']:>11.1%} "
                  f"{m['rev'] / b - 1:>+8.1%} {time.perf_counter() - t0:>5.1f}", flush=True)


if __name__ == "__main__":
    main()
