"""On-line rules on the crossbar: per-step ledger, DFA/BP ratios, adapter latency.

For the default HAR spiking network (9 channels, 128-sample windows, 6 classes, hidden
128-64, T = 16, direct encoding, membrane readout) on a hardware preset (default
``rram_generic``), all in one process with the same seeds:

1. per adaptation step (one window, batch 1) and rule: energy, latency and area from the
   shared CostLedger (``ledger.since(snapshot)``, ``summary()``), split by phase (forward /
   backward / update) and by operation, for every combination of update scheme
   (``--schemes``: stochastic / counted) and transposed-read converters (``--transposed``:
   shared / separate);
2. DFA/BP ratios of energy, latency (whole step and backward phase) and area, per
   combination, and the update phase's share of digital MACs;
3. wall-clock windows/s of ``rule.step`` and samples/s of the OnlineAdapter stream (a label
   for every window), per rule;
4. OnlineAdapter ``step`` x hop + ``learn`` per window (median ms) next to a plain snntorch
   loop (forward + ``loss.backward()`` + ``optimizer.step()``) on the same window and
   network size.

Data: the synthetic HAR generator of :mod:`snnx.data` when present, else random windows of
the right shape. Nothing here is a paper number; targets are printed next to measurements.

Usage:
    python bench/rules.py                      # 1 thread, rram_generic
    python bench/rules.py --hw ideal --threads 2 --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

import snnx.hw as hw
from snnx.learn import RULES, OnlineAdapter, output_error
from snnx.nn import SNN

PHASES = ("forward", "backward", "update")


def get_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """(n, 128, 9) windows, labels and where they came from."""
    try:
        from snnx.data import synthetic_har

        ds = synthetic_har(seed=seed)
        X, y = np.asarray(ds.X, np.float32), np.asarray(ds.y, np.int64)
        idx = np.random.default_rng(seed).permutation(len(X))[:n]
        return X[idx], y[idx], "snnx.data.synthetic_har"
    except Exception as err:  # generator missing or changed: random data of the same shape
        rng = np.random.default_rng(seed)
        return (rng.standard_normal((n, 128, 9)).astype(np.float32),
                rng.integers(0, 6, n), f"random ({type(err).__name__})")


def make_net(args) -> SNN:
    return SNN(channels=9, window=128, hidden=args.hidden, classes=6, steps=args.T,
               gain=args.gain, seed=args.seed)


def ledger_per_step(args, X, y, over: dict | None = None) -> dict:
    """Mean per-step ledger of every rule, by phase and by op; area after the steps."""
    out = {}
    for name in args.rules:
        net = make_net(args).to_analog(hw.load(args.hw, **(over or {})), seed=args.seed)
        rule = RULES[name](lr=args.lr)
        rule.bind(net)
        led = net.ledger
        acc = {p: {"energy_j": 0.0, "latency_s": 0.0} for p in PHASES}
        by_op: dict[str, float] = {}
        lat_by_op: dict[str, float] = {}
        for k in range(args.steps):
            x = torch.from_numpy(X[k:k + args.batch])
            yy = torch.from_numpy(y[k:k + args.batch])
            s0 = led.snapshot()
            rec = net.record(x)
            s1 = led.snapshot()
            e, _ = output_error(rec.logits, yy)
            ds = rule.deltas(net, rec, e)
            s2 = led.snapshot()
            rule.apply(net, rec, ds)
            for p, (a, b) in zip(PHASES, ((s0, s1), (s1, s2), (s2, led.snapshot()))):
                d = _diff(led, a, b)
                acc[p]["energy_j"] += sum(d["energy"].values()) / args.steps
                acc[p]["latency_s"] += d["latency_s"] / args.steps
            d = led.since(s0)
            for op, v in d["energy"].items():
                by_op[op] = by_op.get(op, 0.0) + v / args.steps
            for op, v in d["latency_by_op"].items():
                lat_by_op[op] = lat_by_op.get(op, 0.0) + v / args.steps
        summ = led.summary()
        out[name] = {
            "energy_j": sum(acc[p]["energy_j"] for p in PHASES),
            "latency_s": sum(acc[p]["latency_s"] for p in PHASES),
            "area_m2": summ["area_m2"], "phases": acc,
            "energy_by_op": {k: v for k, v in by_op.items() if v},
            "latency_by_op": {k: v for k, v in lat_by_op.items() if v},
            "area_by_component": summ["area_by_component"],
        }
    return out


def _diff(led, a: dict, b: dict) -> dict:
    return {"energy": {k: v - a["energy"].get(k, 0.0) for k, v in b["energy"].items()},
            "latency_s": b["latency_s"] - a["latency_s"]}


def throughput(args, X, y) -> dict:
    """Wall-clock: rule.step windows/s (batch 1) and adapter stream samples/s."""
    out = {}
    for name in args.rules:
        net = make_net(args).to_analog(hw.load(args.hw), seed=args.seed)
        rule = RULES[name](lr=args.lr)
        rule.step(net, torch.from_numpy(X[:1]), torch.from_numpy(y[:1]))  # warm-up
        n = args.windows
        t0 = time.perf_counter()
        for k in range(n):
            rule.step(net, torch.from_numpy(X[k % len(X)][None]), [int(y[k % len(y)])])
        wps = n / (time.perf_counter() - t0)
        med, sps = adapter_latency(args, name, X, y)
        out[name] = {"rule_windows_per_s": wps, "adapter_ms_median": med,
                     "adapter_samples_per_s": sps}
    return out


def _stream(X: np.ndarray, hop: int) -> list[list[float]]:
    """Consecutive windows with 50 % overlap -> one sample stream (plain lists)."""
    parts = [X[0]] + [w[-hop:] for w in X[1:]]
    return np.concatenate(parts).tolist()


def adapter_latency(args, name: str, X, y) -> tuple[float, float]:
    """Median ms of (hop x step + learn) per window; stream samples/s."""
    net = make_net(args).to_analog(hw.load(args.hw), seed=args.seed)
    ad = OnlineAdapter(net, name, window=128, hop=args.hop, channels=9, lr=args.lr)
    stream = _stream(X[:args.windows + 1], args.hop)
    it = iter(stream)
    for _ in range(127):
        ad.step(next(it))
    times, labels = [], iter(y.tolist())
    t_all = time.perf_counter()
    n_samples = 127
    try:
        while True:
            t0 = time.perf_counter()
            pred = None
            while pred is None:
                pred = ad.step(next(it))
                n_samples += 1
            ad.learn(next(labels))
            times.append(time.perf_counter() - t0)
    except StopIteration:
        pass
    sps = (n_samples - 127) / (time.perf_counter() - t_all)
    return 1e3 * statistics.median(times), sps


def snntorch_latency(args, X, y) -> float:
    """Median ms of forward + BPTT (loss.backward) + SGD step on one window, plain torch."""
    net = make_net(args)
    opt = torch.optim.SGD(net.parameters(), lr=args.lr)
    times = []
    for k in range(args.windows):
        x = torch.from_numpy(X[k % len(X)][None])
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = F.cross_entropy(net(x), torch.tensor([int(y[k % len(y)])]))
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times[2:])


def print_ledger(args, led: dict, title: str) -> dict:
    """Print one configuration's per-step ledger; return the DFA/BP ratios (or {})."""
    print(f"\n## per adaptation step, {title} (batch {args.batch}, mean of {args.steps} steps)")
    print(f"{'rule':8s} {'energy nJ':>10s} {'latency us':>11s} {'area mm2':>9s} | "
          + " | ".join(f"{p} nJ / us" for p in PHASES))
    for name, r in led.items():
        ph = " | ".join(f"{r['phases'][p]['energy_j'] * 1e9:8.2f} / {r['phases'][p]['latency_s'] * 1e6:7.2f}"
                        for p in PHASES)
        print(f"{name:8s} {r['energy_j'] * 1e9:10.2f} {r['latency_s'] * 1e6:11.2f} "
              f"{r['area_m2'] * 1e6:9.4f} | {ph}")
    for name, r in led.items():
        print(f"  {name} energy by op (nJ): "
              + ", ".join(f"{k}={v * 1e9:.3g}" for k, v in sorted(r["energy_by_op"].items())))
        print(f"  {name} busy time by op (us; parallel branches add up here): "
              + ", ".join(f"{k}={v * 1e6:.3g}" for k, v in sorted(r["latency_by_op"].items())))
        print(f"  {name} area (mm2): "
              + ", ".join(f"{k}={v * 1e6:.4g}" for k, v in sorted(r["area_by_component"].items())))
    if "bp" not in led or "dfa" not in led:
        return {}
    b, d = led["bp"], led["dfa"]
    ratios = {"energy": d["energy_j"] / b["energy_j"], "latency": d["latency_s"] / b["latency_s"],
              "area": d["area_m2"] / b["area_m2"],
              "backward_energy": d["phases"]["backward"]["energy_j"] / b["phases"]["backward"]["energy_j"],
              "backward_latency": d["phases"]["backward"]["latency_s"] / b["phases"]["backward"]["latency_s"]}
    print("DFA / BP (measured here; paper for reference only: energy -64.1 %, "
          "latency 2.1x lower, area -10.1 %)")
    print(f"energy {ratios['energy']:.3f} ({(ratios['energy'] - 1) * 100:+.1f} %), latency "
          f"{ratios['latency']:.3f} ({1 / ratios['latency']:.2f}x lower), area "
          f"{ratios['area']:.3f} ({(ratios['area'] - 1) * 100:+.1f} %)")
    print(f"backward phase only: energy {ratios['backward_energy']:.3f}, latency "
          f"{ratios['backward_latency']:.3f}")
    return ratios


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hw", default="rram_generic")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    ap.add_argument("--hidden", type=lambda s: tuple(int(v) for v in s.split(",")),
                    default=(128, 64))
    ap.add_argument("--T", type=int, default=16, help="time steps per window")
    ap.add_argument("--gain", type=float, default=3.0, help="initial weight gain (spiking)")
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--batch", type=int, default=1, help="windows per ledger step")
    ap.add_argument("--steps", type=int, default=20, help="ledger steps averaged")
    ap.add_argument("--windows", type=int, default=100, help="windows timed")
    ap.add_argument("--hop", type=int, default=64)
    ap.add_argument("--rules", nargs="+", default=list(RULES), choices=list(RULES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--schemes", nargs="+", default=["stochastic", "counted"],
                    choices=["stochastic", "counted"], help="device.update.scheme values")
    ap.add_argument("--transposed", nargs="+", default=["shared", "separate"],
                    choices=["shared", "separate"], help="periphery.transposed_adc values")
    ap.add_argument("--no-wall", action="store_true", help="skip the wall-clock part")
    ap.add_argument("--json", help="also write the numbers to this file")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    X, y, src = get_data(max(args.windows + 1, args.steps + args.batch), args.seed)
    print(f"# bench/rules.py  hw={args.hw}  threads={args.threads}  SNN 9x128 -> "
          f"{'-'.join(map(str, args.hidden))} -> 6, T={args.T}  data={src}")
    combos = [(sc, tr) for sc in args.schemes for tr in args.transposed]
    all_ratios = {}
    for sc, tr in combos:
        over = {"device.update.scheme": sc, "periphery.transposed_adc": tr}
        led = ledger_per_step(args, X, y, over)
        ratios = print_ledger(args, led, f"scheme {sc}, transposed_adc {tr}")
        all_ratios[f"{sc}/{tr}"] = {"ratios": ratios, "ledger": led}
    if len(combos) > 1 and all("bp" in v["ledger"] for v in all_ratios.values()):
        print("\n## DFA / BP by configuration")
        print(f"{'scheme/transposed':22s} {'energy':>7s} {'latency':>8s} {'area':>6s} "
              f"{'update MAC share of step energy (dfa, bp)':>42s}")
        for key, v in all_ratios.items():
            r, led = v["ratios"], v["ledger"]
            mac = [led[n]["energy_by_op"].get("mac", 0.0) / led[n]["energy_j"] for n in ("dfa", "bp")]
            print(f"{key:22s} {r['energy']:7.3f} {r['latency']:8.3f} {r['area']:6.3f} "
                  f"{mac[0]:20.1%} {mac[1]:8.1%}")
    thr, ref = {}, None
    if not args.no_wall:
        thr = throughput(args, X, y)
        ref = snntorch_latency(args, X, y)
        print_wall(args, thr, ref)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": {k: v for k, v in vars(args).items()}, "data": src,
                       "configs": all_ratios, "wall": thr,
                       "snntorch_ms": ref}, f, indent=1, default=str)
    return 0


def print_wall(args, thr: dict, ref: float) -> None:
    """Print the wall-clock table."""
    print(f"\n## wall clock ({args.threads} thread(s)); target adapter <= 5 ms/window "
          f"(rram_generic), 2 ms (ideal)")
    print(f"{'rule':8s} {'rule.step win/s':>16s} {'adapter ms/win':>15s} {'stream samples/s':>17s}")
    for name, r in thr.items():
        print(f"{name:8s} {r['rule_windows_per_s']:16.1f} {r['adapter_ms_median']:15.3f} "
              f"{r['adapter_samples_per_s']:17.0f}")
    print(f"snntorch loop (forward + loss.backward + SGD step), same window and net, "
          f"software: {ref:.3f} ms median")


if __name__ == "__main__":
    sys.exit(main())
