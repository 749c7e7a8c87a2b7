"""DFA / BP / log-domain SGD on the HAR recipes over seeds, per update scheme and transposed ADC.

Runs ``snnx compare --recipes har_dfa har_bp har_logsgd --seeds N`` once per combination of
``hw.overrides.device.update.scheme`` (stochastic / counted) and
``hw.overrides.periphery.transposed_adc`` (shared / separate), each into its own folder
(finished runs there are reused, so an interrupted table resumes), and prints one markdown
table: accuracy on the held-out target windows (mean ± 95 % CI over seeds), energy and
latency per adaptation step, area, and each rule's ratios to BP. This is the table in
docs/rules.md ("Measured over seeds").

Usage:
    python bench/rules_table.py                         # 5 seeds, runs/rules_table
    python bench/rules_table.py --seeds 3 --jobs 2 --out /tmp/rt
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import subprocess
import sys
from pathlib import Path

RECIPES = ("har_dfa", "har_bp", "har_logsgd")
# one more DFA variant: B_l e computed in the digital periphery (no feedback arrays)
DIGITAL_FEEDBACK = "adapt.dfa.feedback_compute=digital"
SCHEMES = ("stochastic", "counted")
TRANSPOSED = ("shared", "separate")


def run_compare(out: Path, scheme: str, tadc: str, seeds: int, threads: int,
                digital: bool = False) -> Path:
    folder = out / (f"{scheme}-{tadc}" + ("-digital-feedback" if digital else ""))
    recipes = ("har_dfa",) if digital else RECIPES
    cmd = [sys.executable, "-m", "snnx", "-q", "compare", "--recipes", *recipes,
           "--seeds", str(seeds), "--threads", str(threads), "--out", str(folder),
           "--set", f"hw.overrides.device.update.scheme={scheme}",
           "--set", f"hw.overrides.periphery.transposed_adc={tadc}"]
    if digital:
        cmd += ["--set", DIGITAL_FEEDBACK]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return folder / "compare.json"


def rule_of(group: dict) -> str:
    for run in group["runs"]:
        for r in RECIPES:
            if f"/{r}/" in run + "/":
                return r.split("_", 1)[1]
    return group["label"]


def pm(stat: dict, scale: float = 1.0, digits: int = 1) -> str:
    ci = stat.get("ci95")
    half = "-" if ci is None else f"{ci * scale:.{digits}f}"
    return f"{stat['mean'] * scale:.{digits}f} ± {half}"


def paired(a: dict, b: dict) -> str:
    """Mean ± 95 % CI half-width (Student t) of the per-seed differences a - b, in points."""
    import math

    from scipy.stats import t as student
    d = [100 * (x - y) for x, y in zip(a["values"], b["values"])]
    n = len(d)
    m = sum(d) / n
    if n < 2:
        return f"{m:+.1f} ± -"
    sd = math.sqrt(sum((v - m) ** 2 for v in d) / (n - 1))
    return f"{m:+.1f} ± {student.ppf(0.975, n - 1) * sd / math.sqrt(n):.1f}"


def si(x: float, unit: str) -> str:
    for f, p in ((1e-9, "n"), (1e-6, "µ"), (1e-3, "m"), (1.0, "")):
        if abs(x) < f * 1000:
            return f"{x / f:.3g} {p}{unit}"
    return f"{x:.3g} {unit}"


def table(results: dict, digital: dict) -> str:
    lines = ["| scheme | transposed ADC | rule | deployed → adapted (%) | energy / step | "
             "latency / step | area | E/E_BP | t/t_BP | A/A_BP | adapted − BP's (pts, paired) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for (scheme, tadc), groups in results.items():
        by = {rule_of(g): g["stats"] for g in groups}
        if (scheme, tadc) in digital:
            by["dfa (digital B e)"] = digital[scheme, tadc][0]["stats"]
        bp = by.get("bp")

        def per_step(s, key):
            return s[key]["mean"] / s["steps"]["mean"]
        for rule in ("dfa", "dfa (digital B e)", "bp", "logsgd"):
            s = by.get(rule)
            if s is None:
                continue
            e, t, a = per_step(s, "energy_j"), per_step(s, "latency_s"), s["area_m2"]["mean"]
            if bp is not None:
                ratios = (e / per_step(bp, "energy_j"), t / per_step(bp, "latency_s"),
                          a / bp["area_m2"]["mean"])
                rtxt = [f"{r:.2f}" for r in ratios] + [
                    "-" if s is bp else paired(s["adapted"], bp["adapted"])]
            else:
                rtxt = ["-"] * 4
            acc = f"{pm(s['deployed'], 100)} → {pm(s['adapted'], 100)}"
            lines.append(f"| {scheme} | {tadc} | {rule} | {acc} | {si(e, 'J')} | "
                         f"{si(t, 's')} | {a * 1e6:.3g} mm² | " + " | ".join(rtxt) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("runs/rules_table"))
    ap.add_argument("--jobs", type=int, default=1, help="compare processes at once")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, help="also write the collected groups here")
    a = ap.parse_args(argv)
    combos = [(s, t) for s in SCHEMES for t in TRANSPOSED]
    with cf.ThreadPoolExecutor(a.jobs) as pool:
        futs = {c: pool.submit(run_compare, a.out, *c, a.seeds, a.threads) for c in combos}
        dig = {c: pool.submit(run_compare, a.out, *c, a.seeds, a.threads, True)
               for c in combos if c[1] == "shared"}
        results = {c: json.loads(futs[c].result().read_text())["groups"] for c in combos}
        digital = {c: json.loads(f.result().read_text())["groups"] for c, f in dig.items()}
    print(f"HAR SNN, rram_generic, {a.seeds} seeds per cell; accuracy on the held-out target "
          "windows, mean ± half-width of the 95 % CI; energy and latency per adaptation step "
          "(run totals / steps), area of the chip; ratios of means to BP in the same row block; "
          "accuracy differences paired by seed (same data, pretraining and deployment)")
    print(table(results, digital))
    if a.json:
        a.json.write_text(json.dumps({f"{s}-{t}": g for (s, t), g in results.items()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
