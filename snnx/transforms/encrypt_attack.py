"""The published key-recovery attack on PUF-keyed BNN encryption (:mod:`snnx.transforms.encrypt`).

Flip candidate key bits one at a time and keep a flip when accuracy (or the true-class margin)
on a few labelled samples rises: :func:`flip_attack`. Implemented to report how weak the
obfuscation is, not to hide it.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Sequence

import torch

from snnx.errors import ConfigError
from snnx.transforms.encrypt import (Layer, LayerKey, _check_layers, _pair_perm,
                                     _sign)

@dataclasses.dataclass
class AttackResult:
    """Outcome of :func:`flip_attack`."""

    keys: list[LayerKey]
    """The attacker's final key guess."""
    accuracy: float
    """Accuracy on the attack samples with the guess."""
    start_accuracy: float
    """Accuracy on the attack samples with the initial guess (no key)."""
    evaluations: int
    """Candidate flips tried."""
    accepted: int
    """Flips kept."""
    seconds: float
    """Wall time."""


def flip_attack(layers: Sequence[Layer], x: torch.Tensor, y: torch.Tensor, *,
                generator: torch.Generator, sweeps: int = 1,
                init: Sequence[LayerKey] | None = None, parts: str = "rc",
                metric: str = "accuracy") -> AttackResult:
    """Greedy key-bit flipping on a few labelled samples (the published attack).

    Starting from ``init`` (default: all key bits 0, i.e. the array run as stored), visit
    every key bit (all r and c bits of all layers) in a seeded random order, ``sweeps``
    times; flip it, and keep the flip when the number of correct samples rises strictly.
    A row flip changes the layer's pre-activation by a rank-one term and a column flip only
    its MUX, so each try re-runs the layers after the flipped one only.

    Args:
        layers: the stored [(W', B')].
        x: (N, m_0) attack inputs in {-1, +1}.
        y: (N,) their labels.
        generator: the visiting order.
        sweeps: passes over all key bits.
        init: starting guess.
        parts: which key bits the attacker searches: "r" (row inversions), "c" (column-pair
            swaps) or "rc" (the swap-only scheme of Rajendran et al. that the attack paper
            broke is "c").
        metric: "accuracy" (the published rule: keep a flip when more samples are right) or
            "margin" (also keep a flip that leaves the count and raises the mean margin of
            the true class over the best other class).

    Returns:
        :class:`AttackResult` (score the guess with :meth:`KeyedPeriphery.key_agreement`).
    """
    t0 = time.perf_counter()
    shapes = _check_layers(layers)
    if sweeps < 1:
        raise ConfigError(f"sweeps: must be >= 1, got {sweeps!r}")
    n_l = len(layers)
    r = [torch.zeros(m, dtype=torch.bool) for m, _ in shapes] if init is None \
        else [k.r.clone().cpu() for k in init]
    c = [torch.zeros(n // 2, dtype=torch.bool) for _, n in shapes] if init is None \
        else [k.c.clone().cpu() for k in init]
    sign = [(1 - 2 * ri.to(x)).to(x.device) for ri in r]

    def act(s, i, ci):
        s = _sign(s) if i < n_l - 1 else s
        return s[:, _pair_perm(ci.to(s.device), s.shape[1])]

    xs, ss = [None] * n_l, [None] * n_l

    def refresh(i0):                     # caches of layers i0.. from the input of layer i0
        out = x if i0 == 0 else act(ss[i0 - 1], i0 - 1, c[i0 - 1])
        for i in range(i0, n_l):
            xs[i] = out * sign[i]
            ss[i] = xs[i] @ layers[i][0] - layers[i][1]
            out = act(ss[i], i, c[i])
        return out

    def tail(i, s_i, c_i):
        out = act(s_i, i, c_i)
        for k in range(i + 1, n_l):
            out = act((out * sign[k]) @ layers[k][0] - layers[k][1], k, c[k])
        return out

    span = 2.0 * (shapes[-1][0] + abs(float(layers[-1][1].abs().max()))) + 1.0

    def correct(scores):
        hit = int((scores.argmax(1) == y).sum())
        if metric == "accuracy":
            return hit
        true = scores.gather(1, y[:, None]).squeeze(1)
        other = scores.scatter(1, y[:, None], float("-inf")).max(1).values
        return hit + float((true - other).mean()) / (2 * span)

    if not parts or set(parts) - {"r", "c"}:
        raise ConfigError(f"parts: must be made of 'r' and 'c', got {parts!r}")
    if metric not in ("accuracy", "margin"):
        raise ConfigError(f"metric: must be 'accuracy' or 'margin', got {metric!r}")
    best = start = correct(refresh(0))
    cand = torch.cat([torch.tensor([[i, kind, j] for j in range(size)], dtype=torch.long)
                      .reshape(-1, 3) for i, (m, n) in enumerate(shapes)
                      for kind, size in ((0, m), (1, n // 2)) if "rc"[kind] in parts])
    tried = kept = 0
    for _ in range(sweeps):
        for i, kind, j in cand[torch.randperm(len(cand), generator=generator)].tolist():
            tried += 1
            if kind == 0:
                s_new = ss[i] - 2 * xs[i][:, j:j + 1] * layers[i][0][j]
                got = correct(tail(i, s_new, c[i]))
            else:
                c_new = c[i].clone()
                c_new[j] = ~c_new[j]
                got = correct(tail(i, ss[i], c_new))
            if got > best:
                best, kept = got, kept + 1
                if kind == 0:
                    r[i][j] = ~r[i][j]
                    sign[i][j] = -sign[i][j]
                else:
                    c[i] = c_new
                refresh(i)
    n = max(len(y), 1)
    return AttackResult([LayerKey(ri, ci) for ri, ci in zip(r, c)], round(best) / n,
                        round(start) / n,
                        tried, kept, time.perf_counter() - t0)
