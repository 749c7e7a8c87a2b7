"""Benchmark of write schemes: one-shot, program-and-verify and VIPI (a script, not a test).

On one ``rram_generic`` array (256 x 256, default preset: 16 levels, 1.5 % one-shot error,
1 % read noise, 10 % d2d and c2c step spread, 0.5 % stuck cells) with random 16-level
targets, every scheme writes the same targets with the same faults, d2d gains and seed.
Printed per scheme, over non-stuck cells: mean / RMS / 99th-percentile |G - target| (% of
the range), the fraction truly within half a level (1/30 of the range, program-and-verify's
default tolerance) and within 1.5 % (VIPI's default dead zone), the fraction the VIPI loop
released through its dead zone, iterations, pulse events, summed pulse widths and verify
reads per cell, and energy:

    E = pulses * e_pulse + verify_reads * (V_read^2 * G_mid * t_read + adc_fom * 2^adc_bits)

(one pulse = one e_pulse), plus ``E_width``, which charges every pulse in proportion to its
width (summed nominal pulses * e_pulse) -- the ledger's convention since VIPI is a
programming scheme (``programming.scheme: vipi``; snnx.hw.cost). Ratios are against plain
program-and-verify measured in the same process.

A second table programs one weight matrix onto a Tile with each registered scheme and reads
every number from the tile's CostLedger (pulses, verify reads, energy, latency), so what the
engine books is what the first table computes.

Schemes: one-shot; program-and-verify (preset: tolerance 0.5 step, 8 rounds);
program-and-verify with VIPI's dead zone (0.225 step = 1.5 %) and VIPI's budget (100 rounds);
VIPI (defaults) from the same one-shot start; VIPI with program-and-verify's budget
(8 iterations); VIPI from a RESET start (all cells at g_min, as a fresh board array);
VIPI proportional-only (ki = 0) from RESET.

Run: PYTHONPATH=$PWD python bench/programming.py [--out programming.png] [--seed 0]
"""

from __future__ import annotations

import argparse
import dataclasses

import torch
from _timing import median_time

import snnx.hw as hw
from snnx.hw import device as dev
from snnx.hw.programming.one_shot import program_one_shot
from snnx.hw.programming.verify import program_verify
from snnx.hw.programming.vipi import Params as VIPIParams
from snnx.hw.programming.vipi import program_vipi

HALF_LEVEL = 1 / 30


@dataclasses.dataclass
class Result:
    name: str
    G: torch.Tensor
    pulses: float
    equiv: float
    reads: float
    iterations: int
    converged: float | None
    hist_it: list
    hist_err: list
    hist_pulses: list
    cell_pulses: torch.Tensor | None = None
    ms: float = float("nan")


def setup(seed: int, n: int):
    cfg = hw.load("rram_generic")
    gen = torch.Generator().manual_seed(seed)
    r, gmin = dev.g_range(cfg), cfg.device.g_min
    levels = dev.quantize_levels(torch.rand(n, n, generator=gen, dtype=torch.float64),
                                 cfg.device.levels)
    target = gmin + r * levels
    faults = dev.sample_faults((n, n), cfg, gen, torch.device("cpu"))
    gain = dev.sample_variation((n, n), cfg, gen, torch.device("cpu"), torch.float64)
    return cfg, target, faults, gain


def read_energy(cfg) -> float:
    c = cfg.cost
    g_mid = 0.5 * (cfg.device.g_min + cfg.device.g_max)
    return cfg.periphery.v_read ** 2 * g_mid * c.t_read + c.adc_fom * 2 ** cfg.periphery.adc_bits


def run_verify(name, cfg, target, faults, gain, seed, ks):
    """program_verify, with its error history from re-runs capped at k rounds (same seed:
    the first k rounds of a longer run are identical)."""
    r = dev.g_range(cfg)
    ok = ~(faults[0] | faults[1])
    G, st = program_one_shot(target, cfg, torch.Generator().manual_seed(seed))
    dev.apply_faults(G, faults, cfg)
    errs, pulses = [float(((G - target) / r).abs()[ok].mean())], [st.pulses]
    for k in ks:
        Gk, sk = program_verify(target, cfg.replace(**{"programming.verify.max_iters": k}),
                                torch.Generator().manual_seed(seed), gain, faults)
        errs.append(float(((Gk - target) / r).abs()[ok].mean()))
        pulses.append(sk.pulses)
    ms = 1e3 * median_time(lambda: program_verify(target, cfg, torch.Generator().manual_seed(
        seed), gain, faults), 3, warmup=0)
    return Result(name, Gk, sk.pulses, sk.pulses, sk.verify_reads, sk.iterations, None,
                  [0] + list(ks), errs, pulses, ms=ms)


def run_vipi(name, cfg, target, faults, gain, seed, params, reset):
    G0 = torch.full_like(target, cfg.device.g_min) if reset else None

    def go():
        return program_vipi(target, cfg, torch.Generator().manual_seed(seed), gain, faults,
                            params, G0=G0)
    G, st = go()
    ok = ~(faults[0] | faults[1])
    h = st.history
    return Result(name, G, st.pulses, st.pulse_equivalents, st.verify_reads, st.iterations,
                  float(st.converged[ok].double().mean()), list(range(len(h["pulses"]))),
                  h["mean_abs_error"], h["pulses"], st.cell_pulses,
                  ms=1e3 * median_time(go, 3, warmup=0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="PNG path for the figure")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg, target, faults, gain = setup(args.seed, args.size)
    ok = ~(faults[0] | faults[1])
    n, r = target.numel(), dev.g_range(cfg)
    s = dev.step_fraction(cfg)
    vp = VIPIParams()
    tight = cfg.replace(**{"programming.verify.tolerance": vp.tolerance / s,
                           "programming.verify.max_iters": vp.n_iter})
    seed = args.seed + 1
    G1, st1 = program_one_shot(target, cfg, torch.Generator().manual_seed(seed))
    dev.apply_faults(G1, faults, cfg)
    res = [Result("one-shot", G1, st1.pulses, st1.pulses, 0.0, 0, None, [0],
                  [float(((G1 - target) / r).abs()[ok].mean())], [st1.pulses])]
    res.append(run_verify("verify (tol 1/30, 8 rounds)", cfg, target, faults, gain, seed,
                          range(1, cfg.programming_params.max_iters + 1)))
    res.append(run_verify("verify (tol 0.015, 100 rds)", tight, target, faults, gain, seed,
                          (1, 2, 3, 4, 6, 8, 12, 16, 25, 40, 60, 100)))
    res.append(run_vipi("VIPI (one-shot start)", cfg, target, faults, gain, seed, vp, False))
    res.append(run_vipi("VIPI (one-shot, 8 iters)", cfg, target, faults, gain, seed,
                        dataclasses.replace(vp, n_iter=8), False))
    res.append(run_vipi("VIPI (RESET start)", cfg, target, faults, gain, seed, vp, True))
    res.append(run_vipi("VIPI P-only (RESET start)", cfg, target, faults, gain, seed,
                        dataclasses.replace(vp, ki=0.0), True))
    e_read = read_energy(cfg)
    base = res[1]
    e_base = base.pulses * cfg.cost.e_pulse + base.reads * e_read
    err_base = float(((base.G - target) / r).abs()[ok].mean())
    print(f"rram_generic {args.size}x{args.size}, seed {args.seed}: {int(ok.sum())} non-stuck "
          f"cells, {n - int(ok.sum())} stuck; errors over non-stuck cells in % of range; "
          f"per-cell counts over all cells; E in nJ; ratios vs '{base.name}'")
    hdr = (f"{'scheme':28} {'mean':>6} {'rms':>6} {'p99':>6} {'<=1/30':>7} {'<=1.5%':>7} "
           f"{'loop':>6} {'iters':>5} {'puls/c':>6} {'wid/c':>6} {'rd/c':>6} {'E':>7} "
           f"{'E_wid':>7} {'E/ver':>6} {'err/ver':>7} {'ms':>6}")
    print(hdr)
    for x in res:
        e = ((x.G - target) / r).abs()[ok]
        en = x.pulses * cfg.cost.e_pulse + x.reads * e_read
        ew = x.equiv * cfg.cost.e_pulse + x.reads * e_read
        conv = "-" if x.converged is None else f"{100 * x.converged:.2f}"
        pct = [100 * float(v) for v in (e.mean(), e.pow(2).mean().sqrt(), e.quantile(0.99),
                                        (e <= HALF_LEVEL).double().mean(),
                                        (e <= vp.tolerance).double().mean())]
        print(f"{x.name:28} {pct[0]:6.3f} {pct[1]:6.3f} {pct[2]:6.3f} {pct[3]:7.2f} "
              f"{pct[4]:7.2f} {conv:>6} "
              f"{x.iterations:5d} {x.pulses / n:6.2f} {x.equiv / n:6.2f} {x.reads / n:6.2f} "
              f"{en * 1e9:7.1f} {ew * 1e9:7.1f} {en / e_base:6.2f} "
              f"{float(e.mean()) / err_base:7.2f} {x.ms:6.0f}")
    tile_table(args.seed, args.size)
    if args.out:
        plot(res, target, ok, r, n, args.out)
        print(f"figure: {args.out}")


def tile_table(seed: int, size: int) -> None:
    """Each scheme through a Tile (the registry and the ledger), one (size x size) matrix."""
    W = torch.randn(size, size, generator=torch.Generator().manual_seed(seed),
                    dtype=torch.float64)
    print(f"\nthrough hw.Tile: {size}x{size} weights (2 x {size}^2 cells), rram_generic, "
          f"numbers from the ledger")
    print(f"{'scheme':22} {'pulses/c':>8} {'verify/c':>8} {'E (nJ)':>8} {'t (us)':>8} "
          f"{'mean err %':>10} {'conv %':>7}")
    for name, extra in (("one_shot", {}), ("verify", {}), ("vipi", {}),
                        ("vipi (reset start)", {"programming.vipi.start": "reset"})):
        cfg = hw.load("rram_generic", **{"programming.scheme": name.split()[0], **extra})
        tile = hw.Tile(W, cfg, seed=seed)
        led, st = tile.ledger, tile.last_program
        n = tile.conductances.numel()
        ok = ~(tile.faults[0] | tile.faults[1])
        tgt = tile.layout.to_phys(tile.layout.targets(W))
        err = ((tile.conductances - tgt) / dev.g_range(cfg)).abs()[ok]
        conv = "-" if st.converged is None else f"{100 * float(st.converged[ok].double().mean()):.2f}"
        print(f"{name:22} {led.counts['pulse'] / n:8.2f} {led.counts.get('verify_read', 0) / n:8.2f} "
              f"{led.energy_j * 1e9:8.1f} {led.latency_s * 1e6:8.1f} {100 * float(err.mean()):10.3f} "
              f"{conv:>7}")


def plot(res, target, ok, r, n, out) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
    for x in res[1:]:
        ax[0].plot(x.hist_it, [100 * v for v in x.hist_err], marker=".", label=x.name)
        ax[1].plot([p / n for p in x.hist_pulses], [100 * v for v in x.hist_err], marker=".",
                   label=x.name)
    ax[0].axhline(100 * float(((res[0].G - target) / r).abs()[ok].mean()), color="k", ls=":",
                  label="one-shot")
    ax[0].set_xscale("symlog", linthresh=1)
    ax[0].set(xlim=(0, None), yscale="log", xlabel="iteration",
              ylabel="mean |G - target| (% of range)", title="error vs iterations")
    ax[1].set(yscale="log", xlabel="pulse events per cell", ylabel="mean |error| (%)",
              title="error vs pulses")
    ax[0].legend(fontsize=7)
    for x in (res[0], res[1], res[3], res[5]):
        e = (100 * (x.G - target) / r)[ok].flatten()
        ax[2].hist(e.clamp(-8, 8).numpy(), bins=160, histtype="step", label=x.name)
    ax[2].set(yscale="log", xlabel="G - target (% of range)", ylabel="cells",
              title="final error (non-stuck cells)")
    ax[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


if __name__ == "__main__":
    main()
