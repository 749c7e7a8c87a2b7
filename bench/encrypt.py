"""Benchmark of the PUF-keyed BNN encryption (METHODS.md section 3, "Show it works"): a
script, not a test.

A fully connected BNN 64 -> 512 -> 512 -> 10 on scikit-learn's 8 x 8 digits (inputs
binarised at a quarter of full scale to +-1) is trained in plain torch with sign straight-through
estimators (weights and activations) and batch norm, then folded into +-1 weights and
integer thresholds (hidden layers) and integer class offsets (last layer). Per seed (training
seed = PUF seed) it prints test accuracy of the float net, the folded plain net, the
encrypted array read with the key, without it, with another chip's key, and without key for
the swap-only and inversion-only variants; then the XOR/MUX operation counts against the
array's MACs and an energy estimate; then the published flip attack on a few labelled
training samples, against the swap-only scheme it was published for (searching the c bits)
and against the full key (r and c), with the published accept rule (accuracy rises) and with
a margin tie-breaker. The paper (MNIST, 512 units): 96.04 % with key, < 15 % without,
52.96 % swap-only, < 1 % power overhead; attack ~85 % of the key and ~93 % accuracy.

Array energy assumptions for the overhead: every weight pair is read once per inference with
both cells at V_read = 0.2 V, one at G_on = 100 uS and one at G_off = 2 uS, for t_read = 5 ns
(rram_generic / METHODS.md 0.6); one 1-bit row driver per row (0.05 pJ) and one comparator
per column (SAR FOM 10 fJ/step x 2^1). XOR and 2:1 MUX: snnx.transforms.encrypt.E_GATE.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python bench/encrypt.py [--seeds 3]
     [--attack-samples 100] [--sweeps 2]
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
import torch
from torch import nn

from snnx.nn.binary import _SignSTE
from snnx.transforms.encrypt import (
    E_GATE,
    KeyedPeriphery,
    LayerKey,
    SimulatedPUF,
    bnn_forward,
    derive_keys,
    keyed_forward,
)
from snnx.transforms.encrypt_attack import flip_attack

V_READ, G_ON, G_OFF, T_READ, E_DRIVER, E_SENSE = 0.2, 100e-6, 2e-6, 5e-9, 0.05e-12, 20e-15


class BNN(nn.Module):
    """+-1 weights (latent real weights), BN + sign between layers, scaled last layer."""

    def __init__(self, sizes, seed):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.W = nn.ParameterList([nn.Parameter((torch.rand(m, n, generator=g) * 2 - 1) * 0.1)
                                   for m, n in zip(sizes[:-1], sizes[1:])])
        self.bn = nn.ModuleList([nn.BatchNorm1d(n) for n in sizes[1:-1]])
        self.log_alpha = nn.Parameter(torch.tensor(-3.0))
        self.bias = nn.Parameter(torch.zeros(sizes[-1]))

    def forward(self, x):
        for i, W in enumerate(self.W):
            s = x @ _SignSTE.apply(W)
            if i < len(self.bn):
                x = _SignSTE.apply(self.bn[i](s))
        return s * self.log_alpha.exp() + self.bias

    @torch.no_grad()
    def fold(self):
        """[(W +-1, B integer)] with identical decisions (ties at measure zero aside)."""
        layers = []
        for i, W in enumerate(self.W):
            Wb = torch.where(W >= 0, 1.0, -1.0)
            if i < len(self.bn):
                bn = self.bn[i]
                sd = (bn.running_var + bn.eps).sqrt()
                gam, beta, mu = bn.weight, bn.bias, bn.running_mean
                t = mu - beta * sd / torch.where(gam == 0, 1.0, gam)
                neg = gam < 0                       # sign(gamma (s - t)): flip the column
                Wb[:, neg] *= -1
                B = torch.where(neg, torch.ceil(-t), torch.ceil(t))
                big = float(Wb.shape[0] + 1)        # gamma == 0: constant sign(beta)
                B = torch.where(gam == 0, torch.where(beta >= 0, -big, big), B)
            else:
                B = torch.round(-self.bias / self.log_alpha.exp())
            layers.append((Wb, B))
        return layers


def data(seed):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    d = load_digits()
    X = torch.tensor(np.where(d.data / 16.0 > 0.25, 1.0, -1.0), dtype=torch.float32)
    y = torch.tensor(d.target, dtype=torch.long)
    a, b = train_test_split(np.arange(len(y)), test_size=0.25, random_state=seed, stratify=d.target)
    return X[a], y[a], X[b], y[b]


def train(Xtr, ytr, seed, sizes=(64, 512, 512, 10), epochs=80):
    torch.manual_seed(seed)
    net = BNN(sizes, seed)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(ytr), generator=g).split(64):
            loss = nn.functional.cross_entropy(net(Xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                for W in net.W:
                    W.clamp_(-1, 1)
    return net.eval()


def observable(stored, keys, X, y, parts):
    """Lab diagnostic: fraction of the searched key bits whose single flip away from the true
    key lowers the number of correct attack samples (what the accept rule can see)."""
    base = int((keyed_forward(X, stored, keys).argmax(1) == y).sum())
    seen = total = 0
    for i, k in enumerate(keys):
        for part in parts:
            for j in range(len(getattr(k, part))):
                r, c = k.r.clone(), k.c.clone()
                (r if part == "r" else c)[j] ^= True
                guess = keys[:i] + [LayerKey(r, c)] + keys[i + 1:]
                seen += int((keyed_forward(X, stored, guess).argmax(1) == y).sum()) < base
                total += 1
    return seen / total


def acc(scores, y):
    return float((scores.argmax(1) == y).float().mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--attack-samples", type=int, default=100)
    ap.add_argument("--sweeps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cols = ("float", "plain", "key", "no key", "wrong key", "swap-only", "inv-only")
    rows, att = [], []
    print("test accuracy (digits, 64-512-512-10 BNN); no-key columns run W', B' as stored")
    print(f"{'seed':>4} " + " ".join(f"{c:>9}" for c in cols))
    for seed in range(args.seeds):
        Xtr, ytr, Xte, yte = data(seed)
        net = train(Xtr, ytr, seed)
        layers = net.fold()
        shapes = [tuple(W.shape) for W, _ in layers]
        with torch.no_grad():
            a_float = acc(net(Xte), yte)
        puf = SimulatedPUF(generator=torch.Generator().manual_seed(1000 + seed))
        other = SimulatedPUF(generator=torch.Generator().manual_seed(2000 + seed))
        per = KeyedPeriphery(puf, shapes)
        enc = per.encrypt(layers)
        plain = bnn_forward(Xte, layers)
        assert torch.equal(per(Xte, enc), plain), "keyed inference must be bit-exact"
        r = [a_float, acc(plain, yte), acc(per(Xte, enc), yte), acc(bnn_forward(Xte, enc), yte),
             acc(keyed_forward(Xte, enc, derive_keys(other.response(), shapes)), yte)]
        for variant in ("swap", "invert"):
            pv = KeyedPeriphery(puf, shapes, variant)
            ev = pv.encrypt(layers)
            assert torch.equal(pv(Xte, ev), plain)
            r.append(acc(bnn_forward(Xte, ev), yte))
        rows.append(r)
        print(f"{seed:>4} " + " ".join(f"{v:>9.2%}" for v in r), flush=True)
        for scheme, parts in (("swap", "c"), ("full", "rc")):
            pa = KeyedPeriphery(puf, shapes, scheme)
            ea = pa.encrypt(layers)
            obs = None
            for metric in ("accuracy", "margin"):
                ga = torch.Generator().manual_seed(3000 + seed)
                pick = torch.randperm(len(ytr), generator=ga)[:args.attack_samples]
                res = flip_attack(ea, Xtr[pick], ytr[pick], generator=ga, sweeps=args.sweeps,
                                  parts=parts, metric=metric)
                if obs is None:  # the same picked samples for both metrics
                    obs = observable(ea, derive_keys(puf.response(), shapes, scheme),
                                     Xtr[pick], ytr[pick], parts)
                att.append((seed, scheme, metric, pa.key_agreement(res.keys),
                            acc(keyed_forward(Xte, ea, res.keys), yte), r[1],
                            acc(bnn_forward(Xte, ea), yte), res.accuracy, res.evaluations,
                            res.accepted, res.seconds, obs))
    med = [statistics.median(c) for c in zip(*rows)]
    print(f"{'med':>4} " + " ".join(f"{v:>9.2%}" for v in med))

    ops = per.ops()
    pairs = ops["mvm_macs"]
    e_arr = pairs * V_READ ** 2 * (G_ON + G_OFF) * T_READ + \
        sum(m for m, _ in shapes) * E_DRIVER + sum(n for _, n in shapes) * E_SENSE
    e_per = (ops["xor"] + ops["mux"]) * E_GATE
    print(f"\nper inference: XOR {ops['xor']}, MUX {ops['mux']}, array MACs {pairs} "
          f"-> (XOR+MUX)/MAC = {(ops['xor'] + ops['mux']) / pairs:.2%}")
    print(f"energy: periphery {e_per * 1e12:.2f} pJ vs array {e_arr * 1e9:.2f} nJ "
          f"-> overhead {e_per / e_arr:.3%}  (E_gate = {E_GATE * 1e15:.0f} fJ)")

    print(f"\nflip attack ({args.attack_samples} labelled training samples, {args.sweeps} "
          f"sweep(s) over the scheme's key bits; key rec. = fraction of key bits right, "
          f"50 % by chance; observable = bits whose single flip from the true key lowers the "
          f"attack-set count)")
    print(f"{'seed':>4} {'scheme':>6} {'metric':>8} {'key rec.':>9} {'test acc':>9} "
          f"{'plain':>9} {'no key':>9} {'atk set':>9} {'tried':>6} {'kept':>5} {'[s]':>6} "
          f"{'observable':>10}")
    for a in att:
        print(f"{a[0]:>4} {a[1]:>6} {a[2]:>8} {a[3]:>9.1%} " + " ".join(
            f"{v:>9.2%}" for v in a[4:8]) + f" {a[8]:>6} {a[9]:>5} {a[10]:>6.1f} {a[11]:>10.1%}")
    for scheme in ("swap", "full"):
        for metric in ("accuracy", "margin"):
            sel = [a for a in att if a[1] == scheme and a[2] == metric]
            print(f"{'med':>4} {scheme:>6} {metric:>8} "
                  f"{statistics.median(a[3] for a in sel):>9.1%} " + " ".join(
                      f"{statistics.median(a[i] for a in sel):>9.2%}" for i in (4, 5, 6)))


if __name__ == "__main__":
    main()
