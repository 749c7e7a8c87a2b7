"""Calibration of the synthetic HAR set against a plain classifier (METHODS.md section 12).

A small MLP (1152 -> 128 -> 6, Adam) trained on the flattened, per-channel standardised
windows of the source subjects must score high on held-out source bouts, clearly lower on
the target subjects, keep confusing sitting with standing, and win accuracy back when it is
fine-tuned on the first half of a target subject's stream (what on-line adaptation does).

Run ``python tests/data/test_har_calibration.py`` for the numbers over several seeds.
"""

from __future__ import annotations

import numpy as np
import torch

from snnx.data import synthetic_har

SIT, STAND = 3, 4


def _fit(net, X, y, epochs, seed, lr):
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(y), generator=gen)
        for i in range(0, len(y), 64):
            b = perm[i:i + 64]
            loss = torch.nn.functional.cross_entropy(net(X[b]), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()


def _sit_stand_confusion(y, pred):
    """Share of sitting/standing windows predicted as the other one of the two."""
    both = (y == SIT) | (y == STAND)
    swapped = ((y == SIT) & (pred == STAND)) | ((y == STAND) & (pred == SIT))
    return swapped.sum() / both.sum()


def calibrate(seed: int, epochs: int = 20) -> dict[str, float]:
    """Train on source subjects; measure source / target accuracy and adaptation headroom."""
    torch.manual_seed(seed)
    ds = synthetic_har(seed=seed)
    source, target = ds.source_target()
    train, test = source.train_test_split(0.25, seed, by="bout")
    mean, std = train.channel_stats()
    feats = lambda d: torch.from_numpy(d.standardized(mean, std).X.reshape(len(d), -1))
    net = torch.nn.Sequential(torch.nn.Linear(128 * 9, 128), torch.nn.ReLU(),
                              torch.nn.Linear(128, 6))
    _fit(net, feats(train), torch.from_numpy(train.y), epochs, seed, lr=1e-3)

    def predict(d):
        with torch.no_grad():
            return net(feats(d)).argmax(dim=1).numpy()

    p_src, p_tgt = predict(test), predict(target)
    out = {"source_acc": float((p_src == test.y).mean()),
           "target_acc": float((p_tgt == target.y).mean()),
           "source_sit_stand": float(_sit_stand_confusion(test.y, p_src)),
           "target_sit_stand": float(_sit_stand_confusion(target.y, p_tgt))}
    stream = target.stream(int(target.subjects[0]))
    half = len(stream) // 2
    first, rest = stream.subset(np.arange(half)), stream.subset(np.arange(half, len(stream)))
    out["stream_rest_before"] = float((predict(rest) == rest.y).mean())
    _fit(net, feats(first), torch.from_numpy(first.y), 10, seed, lr=5e-4)
    out["stream_rest_after"] = float((predict(rest) == rest.y).mean())
    return out


def test_source_high_target_lower_sit_stand_confused_adaptation_helps():
    torch.set_num_threads(2)
    r = calibrate(seed=0)
    assert r["source_acc"] >= 0.88, r
    assert 0.45 <= r["target_acc"] <= 0.75, r            # 0.79 without the target shift
    assert r["source_acc"] - r["target_acc"] >= 0.2, r
    assert 0.03 <= r["source_sit_stand"] <= 0.35, r     # confused, but learnable
    assert r["target_sit_stand"] >= 0.2, r
    assert r["stream_rest_after"] >= r["stream_rest_before"] + 0.1, r


if __name__ == "__main__":
    rows = [calibrate(seed) for seed in range(6)]
    for seed, r in enumerate(rows):
        print(seed, {k: round(v, 3) for k, v in r.items()})
    print("mean", {k: round(float(np.mean([r[k] for r in rows])), 3) for k in rows[0]})
    print("min ", {k: round(float(np.min([r[k] for r in rows])), 3) for k in rows[0]})
    print("max ", {k: round(float(np.max([r[k] for r in rows])), 3) for k in rows[0]})
