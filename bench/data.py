"""Synthetic HAR generation speed: the default set vs drawing as many Gaussian numbers.

Run:  python bench/data.py [--repeats 5]

METHODS.md section 12 asks that generating the default set takes well under a second; this
prints the median time and its ratio to ``numpy.random.Generator.standard_normal`` of the
same size (measured in the same process), so the figure is comparable across machines.
"""

from __future__ import annotations

import argparse

import numpy as np
from _timing import median_time

from snnx.data import synthetic_har


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    ds = synthetic_har()  # warm-up (imports, caches)
    rng = np.random.default_rng(0)
    t_gen = median_time(synthetic_har, args.repeats)
    t_base = median_time(lambda: rng.standard_normal(ds.X.shape, dtype=np.float32), args.repeats)
    print(f"default synthetic_har set {ds.X.shape}: {t_gen * 1e3:.0f} ms "
          f"({t_gen / t_base:.1f}x drawing {ds.X.size} Gaussian numbers, {t_base * 1e3:.1f} ms)")


if __name__ == "__main__":
    main()
