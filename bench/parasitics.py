"""Benchmark of snnx.hw.parasitics (a script, not a test).

Prints, measured in this process on 2 threads:
  1. exact G_eff solve time for 64^2 .. 512^2 arrays (median of repeats), first_order time,
     and the cost of a batch-64 read ``x @ G_eff`` relative to ``torch.nn.Linear`` of the
     same size (float32; the read needs nothing besides the matmul);
  2. first_order vs exact error: mean relative column-current error and NF over
     r_row = r_col = 0.5 .. 2.5 ohm at 32^2 (METHODS.md's quoted point), 64^2 and 128^2;
  3. the Tile's refresh policy between exact solves (snnx.hw.readout.effective): error of
     the anchored first-order increment E(G_a) + FO(G) - FO(G_a) after changing 1 % / 5 % of
     the cells (bit flips) or all cells by 1 % / 5 % of the range (analog), against keeping
     the stale G_eff and against plain FO(G);
  4. the same read through the Tile itself at 256 x 256 (one array per side), batch 64:
     program + exact solve, and tile.mvm with exact parasitics vs nn.Linear, for the
     ``ideal`` preset (ideal converters, no noise) and ``rram_generic`` (8-bit DAC/ADC, read
     noise, write-verify), each against the same tile without parasitics.
  5. G_eff after every on-line update (snnx.hw.parasitics.ExactArraySolve): a 256 x 256
     rram_generic tile (no wires) takes outer_updates (batch 64, x ~ U[0, 1], d ~ 0.01 N(0, 1),
     lr 1e-3, as bench/engine.py); for each, the cells that changed on each side are fed to
     one ExactArraySolve per side (r = 2.5 ohm). Prints the typical k and, for both sides,
     ms per exact update (cost model on: it re-solves fully when that is cheaper), per
     linearised update (exact=False, Jacobian at the first solve) and per full re-solve,
     each also as a multiple of the outer_update itself, with the max relative error
     against the full re-solve; then ms per exact incremental update forced for k = 1 ..
     256 new cells on one array.
Arrays are random 50 %-dense binary G (100 / 2 uS), inputs x ~ U[0, 1], V = 0.2 V * x.

Run: /work/venv/bin/python bench/parasitics.py [--skip-solver] [--incremental]
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from _timing import median_time

import snnx.hw as hw
from snnx.hw import parasitics as pr

G_ON, G_OFF, V_READ = 100e-6, 2e-6, 0.2


def array(n: int, gen: torch.Generator) -> torch.Tensor:
    return torch.where(torch.rand(n, n, generator=gen) < 0.5, G_ON, G_OFF).double()


def speed(gen: torch.Generator) -> None:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"exact solve and read cost (r_row = r_col = 2.5 ohm, float64 solve; "
          f"{torch.get_num_threads()} threads, 1-min load average {load:.1f} -- timings are only "
          f"meaningful when it is below the thread count)")
    print(f"{'size':>9} {'exact G_eff [s]':>16} {'first_order [ms]':>17} "
          f"{'read x@G_eff [us]':>18} {'nn.Linear [us]':>15} {'read/Linear':>12}")
    for n in (64, 128, 256, 512):
        G = array(n, gen)
        reps = 5 if n <= 256 else 3
        t_exact = median_time(lambda: pr.effective_conductance(G, 2.5, 2.5), reps, warmup=1)
        t_fo = median_time(lambda: pr.effective_conductance(G, 2.5, 2.5, "first_order"), 20,
                           warmup=1)
        g_eff = pr.effective_conductance(G, 2.5, 2.5).float()
        x = torch.rand(64, n, generator=gen)
        lin = torch.nn.Linear(n, n, bias=False)
        with torch.no_grad():
            lin.weight.copy_(g_eff.T)
            t_read = median_time(lambda: x @ g_eff, 200, warmup=1)
            t_lin = median_time(lambda: lin(x), 200, warmup=1)
        print(f"{n:>5}^2   {t_exact:>16.3f} {t_fo * 1e3:>17.2f} {t_read * 1e6:>18.1f} "
              f"{t_lin * 1e6:>15.1f} {t_read / t_lin:>12.2f}")


def accuracy(gen: torch.Generator) -> None:
    print("\nfirst_order vs exact (batch 256; errors are means of |I - I_exact| / |I_exact|)")
    print(f"{'size':>9} {'r [ohm]':>8} {'NF exact':>9} {'NF 1st-ord':>11} "
          f"{'err 1st-ord':>12} {'err none':>9} {'max err 1st':>12}")
    for n, rs in ((32, (2.5,)), (64, (0.5, 1.0, 1.5, 2.0, 2.5)),
                  (128, (0.5, 1.0, 1.5, 2.0, 2.5))):
        G = array(n, gen)
        V = V_READ * torch.rand(256, n, generator=gen).double()
        for r in rs:
            exact = pr.column_currents(G, V, r, r)
            fo = pr.column_currents(G, V, r, r, "first_order")
            rel_fo = (fo - exact).abs() / exact.abs()
            rel_none = (V @ G - exact).abs() / exact.abs()
            nf = pr.nonideality_factor(G, V, r, r)
            nf_fo = pr.nonideality_factor(G, V, r, r, "first_order")
            print(f"{n:>5}^2   {r:>8.1f} {nf:>8.1%} {nf_fo:>10.1%} {rel_fo.mean():>11.2%} "
                  f"{rel_none.mean():>8.1%} {rel_fo.max():>11.1%}")


def refresh_policy(gen: torch.Generator) -> None:
    print("\nbetween exact solves: mean |I - I_exact| / |I_exact| after a change of G "
          "(batch 256)")
    print(f"{'size':>9} {'r [ohm]':>8} {'NF':>6} {'change':>14} {'stale G_eff':>12} "
          f"{'plain FO':>9} {'anchored FO':>12}")
    for n, r in ((64, 1.0), (64, 2.5), (128, 1.0)):
        G0 = array(n, gen)
        V = V_READ * torch.rand(256, n, generator=gen).double()
        E0 = pr.effective_conductance(G0, r, r)
        F0 = pr.effective_conductance(G0, r, r, "first_order")
        for kind, frac in (("flip", 0.01), ("flip", 0.05), ("analog", 0.01), ("analog", 0.05)):
            if kind == "flip":
                G1 = torch.where(torch.rand(n, n, generator=gen) < frac, G_ON + G_OFF - G0, G0)
            else:
                step = frac * (G_ON - G_OFF) * torch.randn(n, n, generator=gen).double()
                G1 = (G0 + step).clamp(G_OFF, G_ON)
            I = V @ pr.effective_conductance(G1, r, r)
            F1 = pr.effective_conductance(G1, r, r, "first_order")
            nf = float(((V @ G1 - I).abs() / (V @ G1).abs()).mean())

            def err(g):
                return float(((V @ g - I).abs() / I.abs()).mean())

            print(f"{n:>5}^2   {r:>8.1f} {nf:>6.0%} {kind + f' {frac:.0%}':>14} "
                  f"{err(E0):>12.2%} {err(F1):>9.2%} {err(E0 + F1 - F0):>12.3%}")


def tile_read(gen: torch.Generator) -> None:
    n, r = 256, 2.5
    W = torch.randn(n, n, generator=gen)
    x = torch.rand(64, n, generator=gen)
    lin = torch.nn.Linear(n, n, bias=False)
    with torch.no_grad():
        lin.weight.copy_(W)
    print(f"\nthrough the Tile: {n} x {n} (one array per side), batch 64, r_row = r_col = "
          f"{r} ohm, exact; {torch.get_num_threads()} threads, 1-min load "
          f"{os.getloadavg()[0]:.1f}")
    print(f"{'preset':>13} {'program+solve [s]':>18} {'program only [s]':>17} "
          f"{'mvm exact [us]':>15} {'mvm none [us]':>14} {'Linear [us]':>12} "
          f"{'exact/Linear':>13} {'none/Linear':>12}")
    for preset in ("ideal", "rram_generic"):
        ex = hw.load(preset, **{"parasitics.model": "exact", "parasitics.r_row": r,
                                "parasitics.r_col": r})
        no = hw.load(preset)
        def setup(c):
            t = hw.Tile(W, c, seed=1)
            t.mvm(x[:1])                              # builds G_eff and the read cache
            return t

        t_setup = median_time(lambda: setup(ex), 3, warmup=1)
        t_prog = median_time(lambda: setup(no), 3, warmup=1)
        t_ex, t_no = setup(ex), setup(no)
        with torch.no_grad():
            m_lin = median_time(lambda: lin(x), 200, warmup=1)
            m_ex = median_time(lambda: t_ex.mvm(x), 200, warmup=1)
            m_no = median_time(lambda: t_no.mvm(x), 200, warmup=1)
        print(f"{preset:>13} {t_setup:>18.3f} {t_prog:>17.3f} {m_ex * 1e6:>15.1f} "
              f"{m_no * 1e6:>14.1f} {m_lin * 1e6:>12.1f} {m_ex / m_lin:>13.2f} "
              f"{m_no / m_lin:>12.2f}")


def incremental(gen: torch.Generator, updates: int = 6) -> None:
    n, r = 256, 2.5
    torch.manual_seed(0)
    lin = torch.nn.Linear(n, n, bias=False)
    x = torch.rand(64, n, generator=gen)
    d = torch.randn(64, n, generator=gen) * 0.01
    tile = hw.Tile(lin.weight.detach().clone(), hw.load("rram_generic"), seed=1)
    t_upd = median_time(lambda: tile.outer_update(x, d, 1e-3), 20, warmup=3)
    G = tile.conductances.double()
    t_build = time.perf_counter()
    exact = [pr.ExactArraySolve(G[s], r, r) for s in (0, 1)]
    t_build = (time.perf_counter() - t_build) / 2
    t_jac = time.perf_counter()
    linear = [pr.ExactArraySolve(G[s], r, r, jacobian=True) for s in (0, 1)]
    t_jac = (time.perf_counter() - t_jac) / 2
    print(f"\nexact after every update, {n} x {n} rram_generic tile, r_row = r_col = {r} ohm; "
          f"{torch.get_num_threads()} threads, 1-min load {os.getloadavg()[0]:.1f}")
    print(f"outer_update without wires: {t_upd * 1e3:.2f} ms (median of 20); one array's "
          f"ExactArraySolve: {t_build:.2f} s, with jacobian=True {t_jac:.2f} s")
    print("per update, both sides: exact incremental (cost model on: 'full' = it re-solved), "
          "linearised (exact=False), full re-solve; errors: max |G_eff - exact| / max G_eff")
    print(f"{'update':>7} {'k (G+, G-)':>12} {'mode':>10} {'exact ms':>9} {'x upd':>6} "
          f"{'error':>8} {'linear ms':>10} {'x upd':>6} {'error':>8} {'full ms':>8} {'x upd':>6}")
    for u in range(updates):
        G0 = tile.conductances.double().clone()
        tile.outer_update(x, d, 1e-3)
        G1 = tile.conductances.double()
        ks, modes, t_ex, t_lin, t_full, e_ex, e_lin = [], [], 0.0, 0.0, 0.0, 0.0, 0.0
        for s in (0, 1):
            idx = torch.nonzero((G1[s] != G0[s]).view(-1)).squeeze(1)
            ks.append(idx.numel())
            t0 = time.perf_counter()
            got = exact[s].update(idx, G1[s].view(-1)[idx])
            t_ex += time.perf_counter() - t0
            modes.append(exact[s].last_mode[:4])
            t0 = time.perf_counter()
            approx = linear[s].update(idx, G1[s].view(-1)[idx], exact=False)
            t_lin += time.perf_counter() - t0
            t0 = time.perf_counter()
            ref = pr.effective_conductance(G1[s], r, r)
            t_full += time.perf_counter() - t0
            scale = float(ref.abs().max())
            e_ex = max(e_ex, float((got - ref).abs().max()) / scale)
            e_lin = max(e_lin, float((approx - ref).abs().max()) / scale)
        print(f"{u:>7} {tuple(ks)!s:>12} {'/'.join(modes):>10} {t_ex * 1e3:>9.0f} "
              f"{t_ex / t_upd:>6.0f} {e_ex:>8.1e} {t_lin * 1e3:>10.2f} {t_lin / t_upd:>6.1f} "
              f"{e_lin:>8.1e} {t_full * 1e3:>8.0f} {t_full / t_upd:>6.0f}")
    print("forced incremental update of one array (auto_full off) vs its full re-solve:")
    G = tile.conductances[0].double().clone()
    t_full = median_time(lambda: pr.effective_conductance(G, r, r), 3, warmup=1)
    one = pr.ExactArraySolve(G, r, r, max_rank=10 ** 6, auto_full=False)
    for k in (1, 4, 16, 64, 256):
        idx = torch.randperm(n * n, generator=gen)[:k]
        G.view(-1)[idx] = G.view(-1)[idx] * 0.9 + 1e-6
        t0 = time.perf_counter()
        got = one.update(idx, G.view(-1)[idx])
        dt = time.perf_counter() - t0
        ref = pr.effective_conductance(G, r, r)
        print(f"  k = {k:>3} new cells (|S| = {one._S.numel():>3}): {dt * 1e3:7.1f} ms = "
              f"{dt / t_full:5.2f} x full re-solve ({t_full * 1e3:.0f} ms) = {dt / t_upd:6.0f} x "
              f"outer_update; max rel err {float((got - ref).abs().max() / ref.abs().max()):.1e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-solver", action="store_true",
                    help="only sections 3 to 5 (refresh policy, reads through the Tile, "
                         "incremental exact)")
    ap.add_argument("--incremental", action="store_true", help="only section 5")
    ap.add_argument("--threads", type=int, default=2,
                    help="torch threads (the solver's small solves suffer on shared cores)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    if args.incremental:
        incremental(gen)
        return
    if not args.skip_solver:
        speed(gen)
        accuracy(gen)
    refresh_policy(gen)
    tile_read(gen)
    incremental(gen)


if __name__ == "__main__":
    main()
