"""Benchmark of MDM (METHODS.md section 1, "Show it works" (a)): NF and output error vs array
size, baseline vs MDM (a script, not a test).

Two weight sources (``--weights``):

* ``trained`` (default, the paper's regime): an MLP 64-512-512-10 (ReLU) trained here on
  sklearn's digits (Adam with an L1 penalty, which gives the bell-shaped, heavy-tailed
  weights of trained networks; the excess kurtosis is printed). Size n uses the trained
  hidden-to-hidden matrix ``W2[:n/8, :n]`` and as inputs the network's own hidden
  activations (ReLU outputs of layer 1 on digits images; calibration and evaluation images
  are disjoint).
* ``gaussian`` (the old toy): W (n/8 x n) Gaussian, inputs max(0, mu_i + N(0, 1)).

Either way one tile per size n fills exactly one n x n array per side: 8-bit magnitudes
bit-sliced at 1 bit/cell (interleaved, MSB first), differential pair, w_max = max|W| (8-bit
quantisation), bit-serial 8-bit inputs (V = 0.2 V per plane bit), G_on = 100 uS and G_off
from ``--g-off`` (default 0.1 uS: on/off 1000, high as in the paper's devices; the old toy
used 2 uS). NF (exact solver, r_row = r_col = r) is averaged over the two arrays (G+, G-)
and over seeds; reduction = 1 - NF_mdm / NF_baseline.

Output-referred error: the same tile read through the engine with ``parasitics: exact``
(ideal converters, no noise), after bit-serial and bit-slice shift-add and the G+ - G-
difference, against the ideal read: ``||y_pr - y_ideal|| / ||y_ideal||`` over the
evaluation batch, baseline and MDM (calibrated). Choose r so that NF stays below ~30 %
(``--r``); the first-order model is not used anywhere here.

Run: python bench/mdm.py [--sizes 64 128 256] [--r 0.5 1] [--weights trained|gaussian]
"""

from __future__ import annotations

import argparse
import time

import torch

import snnx.hw as hw
from snnx.transforms.mdm import array_nf, input_activity, plan


def trained_mlp(seed: int = 0, epochs: int = 60, l1: float = 2e-5):
    """(W2 (512, 512), hidden activations (N, 512), test accuracy, excess kurtosis of W2)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    X = torch.tensor(d.data / 16.0, dtype=torch.float32)
    y = torch.tensor(d.target)
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(X), generator=g)
    tr, te = perm[:1400], perm[1400:]
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(64, 512), torch.nn.ReLU(),
                              torch.nn.Linear(512, 512), torch.nn.ReLU(),
                              torch.nn.Linear(512, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(epochs):
        for i in range(0, len(tr), 64):
            idx = tr[torch.randperm(len(tr), generator=g)[:64]]
            loss = torch.nn.functional.cross_entropy(net(X[idx]), y[idx])
            loss = loss + l1 * sum(p.abs().sum() for n, p in net.named_parameters()
                                   if n.endswith("weight"))
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        acc = float((net(X[te]).argmax(1) == y[te]).float().mean())
        H = net[1](net[0](X)).double()
        W2 = net[2].weight.detach().double()
    z = (W2 - W2.mean()) / W2.std()
    return W2, H, acc, float((z ** 4).mean() - 3.0)


def setup(n: int, seed: int, args, src):
    cfg = hw.load("ideal", **{
        "array.rows": n, "array.cols": n, "array.w_headroom": 1.0,
        "device.g_min": args.g_off * 1e-6, "device.g_max": 100e-6,
        "periphery.weight_bits": 8, "periphery.bits_per_cell": 1,
        "periphery.input_bit_serial": True, "periphery.dac_bits": 8})
    g = torch.Generator().manual_seed(seed)
    if src is not None:
        W2, H = src
        W = W2[seed * (n // 8) % (512 - n // 8 + 1):][: n // 8, :n]
        idx = torch.randperm(H.shape[0], generator=g)
        H = H[:, :n]
        calib, x = H[idx[:64]], H[idx[64:128]]
    else:
        W = torch.randn(n // 8, n, generator=g, dtype=torch.float64)
        mu = torch.rand(n, generator=g, dtype=torch.float64) * 2 - 1

        def acts(b):
            return (mu + torch.randn(b, n, generator=g, dtype=torch.float64)).clamp(min=0)
        calib, x = acts(64), acts(64)
    return cfg, W, calib, x


def out_error(cfg, W, x, r, perms) -> float:
    """Relative output error of the exact-parasitics read vs the ideal read, same mapping."""
    ideal = hw.Tile(W, cfg, seed=0)
    pr = hw.Tile(W, hw.load(cfg, **{"parasitics.model": "exact", "parasitics.r_row": r,
                                    "parasitics.r_col": r}), seed=0)
    if perms is not None:
        ideal.set_mapping(*perms, W=W)
        pr.set_mapping(*perms, W=W)
    y0, y1 = ideal.mvm(x), pr.mvm(x)
    return float((y1 - y0).norm() / y0.norm())


def nf_row(n: int, r: float, args, src) -> dict:
    keys = ("base", "mdm", "mdm_cal", "rev", "err_base", "err_mdm")
    acc = dict.fromkeys(keys, 0.0)
    for seed in range(args.seeds):
        cfg, W, calib, x = setup(n, seed, args, src)
        tile = hw.Tile(W, cfg, seed=seed)
        Wq = tile.read_weight()
        acc["base"] += float(array_nf(tile, x, r_row=r, r_col=r).mean())
        p = input_activity(tile, calib)
        perms = {}
        for key, act, rev in (("mdm", None, False), ("mdm_cal", p, False), ("rev", p, True)):
            perms[key] = plan(tile, act, reverse=rev)
            tile.set_mapping(*perms[key], W=Wq)
            acc[key] += float(array_nf(tile, x, r_row=r, r_col=r).mean())
            tile.set_mapping(None, None, W=Wq)
        if not args.no_output:
            acc["err_base"] += out_error(cfg, Wq, x, r, None)
            acc["err_mdm"] += out_error(cfg, Wq, x, r, perms["mdm_cal"])
    return {k: v / args.seeds for k, v in acc.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--r", type=float, nargs="+", default=[0.5, 1.0])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--weights", choices=("trained", "gaussian"), default="trained")
    ap.add_argument("--g-off", type=float, default=0.1, help="uS, HRS conductance")
    ap.add_argument("--no-output", action="store_true", help="skip the output-error reads")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1: the solver's small solves suffer on shared cores)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    src = None
    if args.weights == "trained":
        t0 = time.perf_counter()
        W2, H, acc, kurt = trained_mlp()
        src = (W2, H)
        q = (W2.abs() / W2.abs().max() * 255).round()
        print(f"digits MLP 64-512-512-10: test accuracy {acc:.1%}, W2 excess kurtosis "
              f"{kurt:.1f} (Gaussian 0), 8-bit magnitudes < 16 (MSB half empty): "
              f"{float((q < 16).double().mean()):.1%}, hidden activations zero: "
              f"{float((H == 0).double().mean()):.1%} [{time.perf_counter() - t0:.0f} s]")
    print(f"NF (exact solver), {args.weights} 8-bit weights, 1 bit/cell, bit-serial 8-bit "
          f"inputs, G_on/G_off 100/{args.g_off:g} uS, mean of G+/G- arrays and {args.seeds} "
          f"seeds; out err = ||y_pr - y|| / ||y|| after shift-add (exact parasitics)")
    print(f"{'array':>8} {'r[ohm]':>6} {'NF base':>8} {'NF mdm':>8} {'red.':>7} "
          f"{'NF mdm+cal':>10} {'red.':>7} {'NF reversed':>11} {'vs base':>8} "
          f"{'out err base':>12} {'mdm+cal':>8} {'red.':>7} {'[s]':>5}")
    for n in args.sizes:
        for r in args.r:
            t0 = time.perf_counter()
            m = nf_row(n, r, args, src)
            b = m["base"]
            eb, em = m["err_base"], m["err_mdm"]
            red = 1 - em / eb if eb else float("nan")
            print(f"{n:>5}^2 {r:>6.2f} {b:>8.1%} {m['mdm']:>8.1%} {1 - m['mdm'] / b:>7.1%} "
                  f"{m['mdm_cal']:>10.1%} {1 - m['mdm_cal'] / b:>7.1%} {m['rev']:>11.1%} "
                  f"{m['rev'] / b - 1:>+8.1%} {eb:>12.2%} {em:>8.2%} {red:>7.1%} "
                  f"{time.perf_counter() - t0:>5.1f}", flush=True)


if __name__ == "__main__":
    main()
