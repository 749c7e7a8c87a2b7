"""Engine benchmark: Tile.mvm / Tile.outer_update vs torch.nn.Linear, same process.

Run:  python bench/engine.py            (2 threads, batch 64, 256x256 and 1024x1024)
      python bench/engine.py --exact-rng  (exact per-read sampling instead of the pool)
      python bench/engine.py --threads 1 --clock cpu   (CPU time of this process: on a
          machine shared with other jobs, wall time counts the time the process waits for a
          core, which hits the many short operations of an update harder than one matmul)

Prints median-time ratios (lower is better). Targets (issue #3): noisy mvm <= 3x nn.Linear
forward at 256x256 and <= 2x at 1024x1024; outer_update <= 3x an nn.Linear training step
(forward + backward + SGD step). The update is timed with the preset's default scheme
(stochastic pulse trains, push-pull) and, for reference, with ``scheme: counted``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from _timing import median_time as wall_median

import snnx.hw as hw


def cpu_median(fn, repeats: int, warmup: int = 5) -> float:
    """Median CPU time of ``fn()`` in seconds (this process, all its threads)."""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        ts.append(time.process_time() - t0)
    return statistics.median(ts)


median_time = wall_median


def bench(n: int, batch: int, repeats: int, pool: int | None) -> dict:
    torch.manual_seed(0)
    lin = torch.nn.Linear(n, n, bias=False)
    x = torch.rand(batch, n)
    d = torch.randn(batch, n) * 0.01
    opt = torch.optim.SGD(lin.parameters(), lr=0.01)

    def lin_fwd():
        with torch.no_grad():
            lin(x)

    def lin_step():
        opt.zero_grad(set_to_none=True)
        lin(x).pow(2).sum().backward()
        opt.step()

    cfg = hw.load("rram_generic")  # read noise + 8-bit DAC/ADC, no parasitics
    tile = hw.Tile(lin.weight.detach().clone(), cfg, seed=1, pool_size=pool)
    cnt = hw.Tile(lin.weight.detach().clone(), hw.load(cfg, **{"device.update.scheme": "counted"}),
                  seed=1, pool_size=pool)
    t_lin = median_time(lin_fwd, repeats)
    t_step = median_time(lin_step, repeats)
    t_mvm = median_time(lambda: tile.mvm(x), repeats)
    t_mvm_t = median_time(lambda: tile.mvm_t(d), repeats)
    t_upd = median_time(lambda: tile.outer_update(x, d, 1e-3), repeats)
    t_cnt = median_time(lambda: cnt.outer_update(x, d, 1e-3), repeats)
    return {"n": n, "linear_us": t_lin * 1e6, "train_step_us": t_step * 1e6,
            "mvm_us": t_mvm * 1e6, "mvm_t_us": t_mvm_t * 1e6, "update_us": t_upd * 1e6,
            "mvm_ratio": t_mvm / t_lin, "mvm_t_ratio": t_mvm_t / t_lin,
            "update_ratio": t_upd / t_step, "counted_ratio": t_cnt / t_step}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--exact-rng", action="store_true", help="no random-number pool")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall time (default) or this process's CPU time (use with 1 thread)")
    args = ap.parse_args()
    global median_time
    median_time = cpu_median if args.clock == "cpu" else wall_median
    torch.set_num_threads(args.threads)
    pool = None if args.exact_rng else 1 << 20
    print(f"torch {torch.__version__}, threads {args.threads}, batch {args.batch}, "
          f"hw rram_generic, rng {'exact' if args.exact_rng else 'pool'}, {args.clock} clock")
    print(f"{'size':>6} {'Linear us':>10} {'mvm us':>9} {'mvm/Lin':>8} {'mvm_t/Lin':>9} "
          f"{'step us':>9} {'update us':>10} {'upd/step':>8} {'counted/step':>12}")
    for n in args.sizes:
        r = bench(n, args.batch, args.repeats, pool)
        print(f"{n:>6} {r['linear_us']:>10.1f} {r['mvm_us']:>9.1f} {r['mvm_ratio']:>8.2f} "
              f"{r['mvm_t_ratio']:>9.2f} {r['train_step_us']:>9.1f} {r['update_us']:>10.1f} "
              f"{r['update_ratio']:>8.2f} {r['counted_ratio']:>12.2f}")


if __name__ == "__main__":
    main()
