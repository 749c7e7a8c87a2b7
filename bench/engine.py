"""Engine benchmark: Tile.mvm / Tile.outer_update vs torch.nn.Linear, same process.

Run:  python bench/engine.py            (2 threads, batch 64, 256x256 and 1024x1024)
      python bench/engine.py --sizes 2048 4096   (large tiles: update rng is streamed)
      python bench/engine.py --exact-rng  (exact per-read sampling instead of the pool)
      python bench/engine.py --build 4096 --sizes  (only: Tile build time and peak memory)

      python bench/engine.py --sizes --wires 256   (only: the wires-on update rows below)

      python bench/engine.py --threads 1 --clock cpu   (CPU time of this process: on a
          machine shared with other jobs, wall time counts the time the process waits for a
          core, which hits the many short operations of an update harder than one matmul)

Prints median-time ratios (lower is better). Targets (issue #3): noisy mvm <= 3x nn.Linear
forward at 256x256 and <= 2x at 1024x1024; outer_update <= 3x an nn.Linear training step
(forward + backward + SGD step). The update is timed with the preset's default scheme
(stochastic pulse trains) and, for reference, with ``scheme: counted`` (digital pulse counts
with stochastic rounding, whose n x n uniform draw is streamed from pool windows where
n^2 > MAX_POOL / 2), both with the preset's ``bidirectional`` policy (potentiation on one side
and depression on the other: twice the written cells), and ``split/step``: counted pulses on
one side only (``policy: split``), the update 0.1 timed as ``upd/step``. ``rng ms``: that
draw alone from a pooled source, against ``exact rng ms``, drawn exactly into fresh memory.

Wires-on update rows (``--wires N``, issue #12): one N x N array per side (rram_generic with
``array.rows = array.cols = N``), exact wire resistance at r_row = r_col = 2.5 ohm (the
upper literature value of the preset's comment), batch ``--batch``; each row times
``outer_update`` followed by a forward read (``mvm``: the read caches and G_eff refreshed),
mean and median ms over ``--wires-updates`` updates (the mean carries the periodic full
solves), for ``parasitics.incremental: none`` with ``refresh_every: 1`` (a full re-solve
per update), ``exact``, ``linear`` (re-solved every ``--wires-refresh`` updates) and without
wires; ratios to the same update + read without wires and to the bare ``outer_update``;
``k``: cells changed per array per update; errors: max |G_eff - E(G)| / max E(G) against a
full float64 re-solve of the tile's conductances after each update (float32 tile: floor
~1e-7). Two learning rates: the engine rows' 1e-3 and 1e-4 (fewer changed cells).
"""

from __future__ import annotations

import argparse
import functools
import gc
import os
import statistics
import threading
import time
from typing import Self

import torch
from _timing import median_time as wall_median

import snnx.hw as hw
from snnx.errors import ShapeError
from snnx.hw.rng import RandomSource


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
    one = hw.Tile(lin.weight.detach().clone(),
                  hw.load(cfg, **{"device.update.scheme": "counted",
                                  "device.update.policy": "split"}), seed=1, pool_size=pool)
    t_lin = median_time(lin_fwd, repeats)
    t_step = median_time(lin_step, repeats)
    t_mvm = median_time(lambda: tile.mvm(x), repeats)
    t_mvm_t = median_time(lambda: tile.mvm_t(d), repeats)
    t_upd = median_time(lambda: tile.outer_update(x, d, 1e-3), repeats)
    t_cnt = median_time(lambda: cnt.outer_update(x, d, 1e-3), repeats)
    t_one = median_time(lambda: one.outer_update(x, d, 1e-3), repeats)
    # the counted update's stochastic-rounding draw alone: this pool (streamed beyond
    # MAX_POOL / 2) vs exact sampling into fresh memory
    src, exact = RandomSource(3, pool_size=pool), RandomSource(3, pool_size=None)
    t_u = median_time(lambda: src.uniform(n, n), repeats)
    t_ux = median_time(lambda: exact.uniform(n, n), repeats)
    return {"rng_ms": t_u * 1e3, "rng_exact_ms": t_ux * 1e3, "n": n,
            "linear_us": t_lin * 1e6, "train_step_us": t_step * 1e6,
            "mvm_us": t_mvm * 1e6, "mvm_t_us": t_mvm_t * 1e6, "update_us": t_upd * 1e6,
            "mvm_ratio": t_mvm / t_lin, "mvm_t_ratio": t_mvm_t / t_lin,
            "update_ratio": t_upd / t_step, "counted_ratio": t_cnt / t_step,
            "split_ratio": t_one / t_step}


class PeakRSS:
    """Context manager: peak resident set size (bytes) above the size on entry (Linux)."""

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096

    def _poll(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, self.rss())
            self._done.wait(0.0005)

    def __enter__(self) -> Self:
        gc.collect()
        self.base = self.peak = self.rss()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())
        self.delta = self.peak - self.base


def bench_build(n: int, repeats: int) -> None:
    """Tile build (programming) time and peak memory, write-verify vs one-shot."""
    W = torch.randn(n, n, generator=torch.Generator().manual_seed(0))
    cells = 2 * n * n
    print(f"\nTile({n}x{n}, rram_generic) build, median of {repeats}; peak memory above the "
          f"resident size before the build ({cells / 1e6:.1f} M cells)")
    print(f"{'scheme':>9} {'build s':>8} {'peak MB':>8} {'B/cell':>7} {'pulses/cell':>12} "
          f"{'reads/cell':>11}")
    res = {}
    for scheme in ("one_shot", "verify"):
        cfg = hw.load("rram_generic", **{"programming.scheme": scheme})
        ts, peaks = [], []
        for _ in range(repeats):
            with PeakRSS() as p:
                t0 = time.perf_counter()
                tile = hw.Tile(W, cfg, seed=1)
                ts.append(time.perf_counter() - t0)
            peaks.append(p.delta)
            counts = dict(tile.ledger.counts)
            del tile
        t, m = sorted(ts)[len(ts) // 2], max(peaks)
        res[scheme] = t
        print(f"{scheme:>9} {t:>8.2f} {m / 2**20:>8.0f} {m / cells:>7.1f} "
              f"{counts.get('pulse', 0) / cells:>12.3f} {counts.get('verify_read', 0) / cells:>11.3f}")
    print(f"verify / one_shot build time: {res['verify'] / res['one_shot']:.2f}")


def _geff_error(tile, r: float) -> float:
    """max |G_eff - E(G)| / max E(G) of a one-array-per-side tile against a full float64
    re-solve of its present conductances."""
    from snnx.hw import parasitics as pr

    G = tile.conductances.double()
    ref = torch.stack([pr.effective_conductance(G[s], r, r) for s in (0, 1)])
    return float((tile._effective().double() - ref).abs().max() / ref.abs().max())


def bench_wires(n: int, batch: int, lr: float, updates: int, refresh: int,
                drift: int, r: float = 2.5) -> None:
    """The wires-on update rows (module docstring)."""
    torch.manual_seed(0)
    lin = torch.nn.Linear(n, n, bias=False)
    x, d = torch.rand(batch, n), torch.randn(batch, n) * 0.01
    W = lin.weight.detach().clone()
    base = hw.load("rram_generic", **{"array.rows": n, "array.cols": n})
    on = {"parasitics.model": "exact", "parasitics.r_row": r, "parasitics.r_col": r}
    lin_k = {**on, "parasitics.incremental": "linear", "parasitics.refresh_every": refresh}
    rows = [("no wires", {}), ("none, refresh_every 1", on),
            (f"none, refresh_every {refresh}", {**on, "parasitics.refresh_every": refresh}),
            ("exact", {**on, "parasitics.incremental": "exact"}),
            (f"linear, refresh_every {refresh}", lin_k)]
    bare = hw.Tile(W, base, seed=1)
    t_bare = median_time(lambda: bare.outer_update(x, d, lr), 20)
    res = []
    for name, over in rows:
        tile = hw.Tile(W, hw.load(base, **over), seed=1)
        tile.mvm(x)  # the solve after programming, untimed
        ts, ks, errs, full = [], [], [], 0
        for _ in range(updates):
            G0 = tile.conductances.clone()
            t0 = time.perf_counter()
            tile.outer_update(x, d, lr)
            try:
                tile.mvm(x)
            except ShapeError:  # the first-order increment can turn G_eff negative (high NF)
                ge = tile._effective()
                print(f"{name}: the read failed after {len(ts) + 1} updates (G_eff min "
                      f"{float(ge.min()):.2g} S, max |error| {_geff_error(tile, r):.2g})")
                break
            ts.append(time.perf_counter() - t0)
            ks.append(int((tile.conductances != G0).sum()) / 2)
            if over:
                errs.append(_geff_error(tile, r))
            sol = (tile._pr_anchor or {}).get("_solvers") or []
            full += sum(s.last_mode == "full" for s in sol)
        if len(ts) == updates:
            res.append((name, statistics.mean(ts), statistics.median(ts), ks, errs, full))
    t_ref = res[0][1]
    print(f"\nwires on: {n}x{n}, one array per side, r = {r} ohm, batch {batch}, lr {lr:g}, "
          f"{updates} updates, {torch.get_num_threads()} threads; bare outer_update (no "
          f"wires) {t_bare * 1e3:.2f} ms; 1-min load {os.getloadavg()[0]:.1f}")
    print(f"{'mode':>24} {'mean ms':>9} {'median ms':>10} {'x no wires':>10} {'x bare upd':>10} "
          f"{'k/array':>8} {'full/array-upd':>14} {'max err':>8} {'mean err':>8}")
    for name, mean, med, ks, errs, full in res:
        e = f"{max(errs):>8.1e} {statistics.mean(errs):>8.1e}" if errs else f"{'-':>8} {'-':>8}"
        fs = f"{full}/{2 * updates}" if name == "exact" or name.startswith("linear") else "-"
        print(f"{name:>24} {mean * 1e3:>9.1f} {med * 1e3:>10.1f} {mean / t_ref:>10.1f} "
              f"{mean / t_bare:>10.1f} {statistics.mean(ks):>8.0f} {fs:>14} {e}")
    if not drift:
        return
    # error against the number of updates since the last full solve (never re-solved here)
    marks = [u for u in (1, 2, 4, 8, 16, 32, 64, 128, 256) if u <= drift]
    print(f"error vs updates since the last full solve (refresh_every > {drift}): "
          f"max |G_eff - E(G)| / max E(G)")
    print(f"{'updates':>24} " + " ".join(f"{u:>8}" for u in marks))
    never = {"parasitics.refresh_every": 10 ** 6}
    for name, over in (("none (FO increment)", {**on, **never}),
                       ("linear (Jacobian)", {**lin_k, **never}),
                       ("stale G_eff", None)):
        tile = hw.Tile(W, hw.load(base, **(over or on)), seed=1)
        tile.mvm(x)
        stale = tile._effective().clone()
        out = []
        for u in range(1, marks[-1] + 1):
            tile.outer_update(x, d, lr)
            if u in marks:
                if over is None:
                    tile._geff = stale  # read as if G_eff had not followed the updates
                out.append(_geff_error(tile, r))
        print(f"{name:>24} " + " ".join(f"{e:>8.1e}" for e in out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--sizes", type=int, nargs="*", default=[256, 1024],
                    help="mvm/update sizes (2048, 4096 also work; none: skip)")
    ap.add_argument("--exact-rng", action="store_true", help="no random-number pool")
    ap.add_argument("--build", type=int, nargs="*", default=[], metavar="N",
                    help="also time Tile(N x N) builds and their peak memory")
    ap.add_argument("--build-repeats", type=int, default=3)
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall time (default) or this process's CPU time (use with 1 thread)")
    ap.add_argument("--wires", type=int, nargs="*", default=[], metavar="N",
                    help="also the wires-on update rows at N x N (e.g. 256)")
    ap.add_argument("--wires-updates", type=int, default=16)
    ap.add_argument("--wires-refresh", type=int, default=8,
                    help="refresh_every of the linear row")
    ap.add_argument("--wires-lr", type=float, nargs="*", default=[1e-3, 1e-4, 1e-5])
    ap.add_argument("--wires-drift", type=int, default=64,
                    help="error growth without re-solves up to this many updates (0: skip)")
    args = ap.parse_args()
    global median_time
    if args.clock == "cpu":
        median_time = functools.partial(wall_median, clock=time.process_time)
    torch.set_num_threads(args.threads)
    pool = None if args.exact_rng else 1 << 20
    if args.build:
        print(f"torch {torch.__version__}, threads {args.threads}")
    for n in args.build:  # first, while the process is small
        bench_build(n, args.build_repeats)
    for n in args.wires:
        for lr in args.wires_lr:
            bench_wires(n, args.batch, lr, args.wires_updates, args.wires_refresh,
                        args.wires_drift)
    if not args.sizes:
        return
    print(f"torch {torch.__version__}, threads {args.threads}, batch {args.batch}, "
          f"hw rram_generic, rng {'exact' if args.exact_rng else 'pool'}, {args.clock} clock")
    print(f"{'size':>6} {'Linear us':>10} {'mvm us':>9} {'mvm/Lin':>8} {'mvm_t/Lin':>9} "
          f"{'step us':>9} {'update us':>10} {'upd/step':>8} {'counted/step':>12} "
          f"{'split/step':>10} "
          f"{'rng ms':>7} {'exact rng ms':>12}")
    for n in args.sizes:  # fewer repeats for the big sizes (a 4096^2 update takes ~0.5 s)
        reps = args.repeats if n <= 1024 else max(5, args.repeats * 1024 // (4 * n))
        r = bench(n, args.batch, reps, pool)
        print(f"{n:>6} {r['linear_us']:>10.1f} {r['mvm_us']:>9.1f} {r['mvm_ratio']:>8.2f} "
              f"{r['mvm_t_ratio']:>9.2f} {r['train_step_us']:>9.1f} {r['update_us']:>10.1f} "
              f"{r['update_ratio']:>8.2f} {r['counted_ratio']:>12.2f} {r['split_ratio']:>10.2f} "
              f"{r['rng_ms']:>7.2f} "
              f"{r['rng_exact_ms']:>12.2f}")


if __name__ == "__main__":
    main()
