"""SNN training-step benchmark: fused spiking layers vs the snntorch step loop, same process.

Run:  python bench/snn_train.py              (1 thread, batch 64, T = 16 and 128)
      python bench/snn_train.py --threads 2 --steps 8 32

One training step = forward + cross-entropy + backward + Adam step of the default HAR SNN
(9 channels, window 128, hidden (128, 64), 6 classes, Leaky neurons, membrane readout).
Prints median times (the median over alternating rounds of per-round medians), the ratio
fused/loop (lower is better; target, issue #12: <= 0.3x) and the largest difference between
the two paths' gradients (all weights, same batch) relative to the largest gradient.
"""

from __future__ import annotations

import argparse
import functools
import statistics

import torch
import torch.nn.functional as F
from _timing import median_time

from snnx.nn import SNN


def bench(steps: int, batch: int, repeats: int, rounds: int, neuron: str) -> dict:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 128, 9, generator=gen)
    y = torch.randint(0, 6, (batch,), generator=gen)
    nets = {f: SNN(steps=steps, neuron=neuron, fused=f) for f in (False, True)}
    grads = {}
    for f, net in nets.items():  # same weights: one gradient each, compared
        F.cross_entropy(net(x), y).backward()
        grads[f] = torch.cat([p.grad.flatten() for p in net.parameters()])
    scale = float(grads[False].abs().max())
    diff = float((grads[True] - grads[False]).abs().max()) / scale

    def train_step(net, opt):
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
        opt.step()

    opts = {f: torch.optim.Adam(net.parameters(), lr=1e-3) for f, net in nets.items()}
    times = {False: [], True: []}
    for _ in range(rounds):  # alternate the two paths: a load change hits both alike
        for f, net in nets.items():
            step = functools.partial(train_step, net, opts[f])
            times[f].append(median_time(step, repeats, warmup=2))
    times = {f: statistics.median(ts) for f, ts in times.items()}
    return {"T": steps, "loop_ms": times[False] * 1e3, "fused_ms": times[True] * 1e3,
            "ratio": times[True] / times[False], "grad_diff": diff}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=10, help="timed steps per round")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds (median)")
    ap.add_argument("--steps", type=int, nargs="+", default=[16, 128], help="values of T")
    ap.add_argument("--neuron", default="leaky", choices=["leaky", "synaptic"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {args.threads}, batch {args.batch}, "
          f"HAR SNN 9 ch x 128 samples -> T frames -> 128 -> 64 -> 6 ({args.neuron}, "
          f"membrane readout), Adam")
    print(f"{'T':>5} {'loop ms':>9} {'fused ms':>9} {'fused/loop':>10} "
          f"{'max|dgrad|/max|grad|':>21}")
    for steps in args.steps:
        r = bench(steps, args.batch, args.repeats, args.rounds, args.neuron)
        print(f"{r['T']:>5} {r['loop_ms']:>9.2f} {r['fused_ms']:>9.2f} {r['ratio']:>9.2f}x "
              f"{r['grad_diff']:>21.2e}")


if __name__ == "__main__":
    main()
