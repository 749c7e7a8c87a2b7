"""Benchmark of weight sorting + bit stucking (METHODS.md section 2, "Show it works"): cell
writes when tiles are streamed through a few reused arrays, and the accuracy on the weights
actually held (a script, not a test).

Two nets trained in plain torch on scikit-learn's 8 x 8 digits (a few seconds each):
(a) an MLP 64 -> 256 -> 256 -> 10 (ReLU), (b) a CNN conv 8 3x3 -> conv 16 3x3 -> max-pool 2
-> fc 10 (ReLU) (conv weights as (out, in * 3 * 3) matrices; biases stay digital). Weights are
8-bit magnitudes, 1 bit/cell, sign by differential pair, 64 x 64 physical arrays (8 outputs
per tile), P = 2 arrays used round-robin. Each schedule runs ``--inferences`` times; the first
(from erased arrays) is dropped, flips and test accuracy are averaged over the rest and over
``--seeds`` stucking seeds. Reduction = flips(natural order, no stucking) / flips(method),
also for the busiest cell ("max cell"); accuracy drop is against the 8-bit weights without
stucking. Sorting alone is shown with each row key, with the greedy Hamming order alone and
with both; "sort+stuck" uses max key + greedy. Arrays start erased, so with p = 0 the low
bits are never written (each side's magnitude is held truncated to its 8 - L high bits).
The paper (ImageNet): 3.7x ResNet-50, 21x ViT-Base within 1 % accuracy.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python bench/reprogram.py [--seeds 2]
     [--inferences 3] [--rows 64 --cols 64 --arrays 2]
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from snnx.transforms.reprogram import reprogram


def data(seed=0):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    d = load_digits()
    X = torch.tensor(d.data / 16.0, dtype=torch.float32)
    y = torch.tensor(d.target, dtype=torch.long)
    a, b = train_test_split(np.arange(len(y)), test_size=0.25, random_state=seed,
                            stratify=d.target)
    return X[a], y[a], X[b], y[b]


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.ModuleList([nn.Linear(64, 256), nn.Linear(256, 256), nn.Linear(256, 10)])

    def forward(self, x, Ws=None):
        for i, f in enumerate(self.fc):
            x = F.linear(x, f.weight if Ws is None else Ws[i].to(x), f.bias)
            x = F.relu(x) if i < 2 else x
        return x

    def matrices(self):
        return [f.weight.detach().double() for f in self.fc]


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 8, 3, padding=1), nn.Conv2d(8, 16, 3, padding=1)
        self.fc = nn.Linear(16 * 4 * 4, 10)

    def forward(self, x, Ws=None):
        w = [m.weight for m in (self.c1, self.c2, self.fc)] if Ws is None else \
            [W.to(x).reshape(m.weight.shape) for W, m in zip(Ws, (self.c1, self.c2, self.fc))]
        x = F.relu(F.conv2d(x.reshape(-1, 1, 8, 8), w[0], self.c1.bias, padding=1))
        x = F.max_pool2d(F.relu(F.conv2d(x, w[1], self.c2.bias, padding=1)), 2)
        return F.linear(x.flatten(1), w[2], self.fc.bias)

    def matrices(self):
        return [m.weight.detach().double().flatten(1) for m in (self.c1, self.c2, self.fc)]


def train(make, Xtr, ytr, seed, epochs=40):
    torch.manual_seed(seed)
    net = make()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3, weight_decay=1e-4)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(ytr), generator=g).split(64):
            loss = F.cross_entropy(net(Xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


@torch.no_grad()
def acc(net, X, y, Ws=None):
    return float((net(X, Ws).argmax(1) == y).float().mean())


def evaluate(net, Ws, X, y, args, sort, L, p, greedy=None):
    flips, cell_max, accs = [], [], []
    for seed in range(args.seeds if 0 < L and 0 < p < 1 else 1):
        res = reprogram(Ws, rows=args.rows, cols=args.cols, arrays=args.arrays,
                        sort=sort or "none", greedy=bool(sort) if greedy is None else greedy,
                        low_bits=L, p=p,
                        generator=torch.Generator().manual_seed(seed),
                        inferences=args.inferences)
        flips.append(statistics.mean(res.flips_per_inference[1:]))
        cell_max.append(res.flips_max)
        accs += [acc(net, X, y, h) for h in res.held[1:]]
    return statistics.mean(flips), statistics.mean(cell_max), statistics.mean(accs)


def study(name, net, X, y, args):
    Ws = net.matrices()
    with torch.no_grad():
        a_float = acc(net, X, y)
    f0, m0, a0 = evaluate(net, Ws, X, y, args, False, 0, 1.0)
    n_tiles = len(reprogram(Ws, rows=args.rows, cols=args.cols, arrays=args.arrays).order)
    print(f"\n({name}) {n_tiles} tiles / schedule through {args.arrays} arrays of "
          f"{args.rows}x{args.cols}; float acc {a_float:.2%}, 8-bit acc {a0:.2%}; "
          f"baseline {f0:,.0f} flips/inference, busiest cell {m0:.0f} over "
          f"{args.inferences} inferences")
    print(f"{'method':>15} {'L':>2} {'p':>5} {'flips/inf':>10} {'reduction':>9} "
          f"{'max cell':>8} {'acc':>7} {'drop':>7}")
    print(f"{'natural':>15} {0:>2} {1:>5.2f} {f0:>10,.0f} {1:>8.2f}x {1:>7.2f}x {a0:>7.2%} "
          f"{0:>+7.2%}")
    rows = []
    for sort, greedy, label in (("max", False, "sort max"), ("mean", False, "sort mean"),
                                (None, True, "greedy"), ("max", True, "sort max+greedy")):
        f, m, a = evaluate(net, Ws, X, y, args, sort, 0, 1.0, greedy)
        rows.append(("sort", 0, 1.0, f0 / f, m0 / m, a0 - a, label))
        print(f"{label:>15} {0:>2} {1:>5.2f} {f:>10,.0f} {f0 / f:>8.2f}x "
              f"{m0 / m:>7.2f}x {a:>7.2%} {a0 - a:>+7.2%}", flush=True)
    for sort in (None, "max"):
        for L in (2, 3, 4):
            for p in (0.0, 0.1, 0.25, 0.5):          # p = 1 is the L = 0 row (tested)
                f, m, a = evaluate(net, Ws, X, y, args, sort, L, p)
                method = "sort+stuck" if sort else "stuck"
                rows.append((method, L, p, f0 / f, m0 / m, a0 - a, method))
                print(f"{method:>15} {L:>2} {p:>5.2f} {f:>10,.0f} {f0 / f:>8.2f}x "
                      f"{m0 / m:>7.2f}x {a:>7.2%} {a0 - a:>+7.2%}", flush=True)
    for method in ("sort", "stuck", "sort+stuck"):
        ok = [r for r in rows if r[0] == method and r[5] <= 0.01]
        if ok:
            best = max(ok, key=lambda r: r[3])
            print(f"  best within 1 % ({best[6]}): {best[3]:.2f}x (max cell {best[4]:.2f}x) "
                  f"at L={best[1]}, p={best[2]}, drop {best[5]:+.2%}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--inferences", type=int, default=3)
    ap.add_argument("--rows", type=int, default=64)
    ap.add_argument("--cols", type=int, default=64)
    ap.add_argument("--arrays", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    Xtr, ytr, Xte, yte = data()
    study("a: MLP", train(MLP, Xtr, ytr, 0), Xte, yte, args)
    study("b: CNN", train(CNN, Xtr, ytr, 0), Xte, yte, args)


if __name__ == "__main__":
    main()
