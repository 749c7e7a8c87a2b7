"""``snnx stream``: run a finished run's chip on a live source of raw sensor samples.

Predicts a class every hop, learns on the chip from labels (also late ones), writes
predictions, labels and costs as it goes and saves the chip at the end or on Ctrl-C.
Sources and output: :mod:`snnx.pipeline.stream`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from snnx.cli.common import add_threads, set_examples, set_threads
from snnx.errors import ConfigError

HELP = "run a finished run's chip on a live source (CSV, JSON lines, stdin, LSL)"

EXAMPLES = """\
  snnx stream runs/har_dfa/20260101-120000 --source samples.csv
  my_sensor | snnx stream runs/har_dfa/20260101-120000 --source - --out runs/live
  snnx stream runs/har_dfa/20260101-120000 --source lsl:MyIMU --labels lsl:MyLabels
  snnx stream runs/har_dfa/20260101-120000 --source run:stream --no-learn
"""


def add_args(p: argparse.ArgumentParser) -> None:
    set_examples(p, EXAMPLES)
    add_threads(p)
    p.add_argument("run", metavar="RUN", help="a run folder or a deployed.h5 file")
    p.add_argument("--source", required=True, metavar="SRC",
                   help="FILE.csv | FILE.jsonl | - (stdin) | lsl:NAME | lsl:PROP=VALUE | "
                        "run:SPLIT (the run's own stream or target_test windows)")
    p.add_argument("--labels", metavar="lsl:NAME", help="an LSL marker stream of labels")
    p.add_argument("--out", metavar="DIR", help="output folder (default RUN/streams/<time>/)")
    p.add_argument("--rule", metavar="R", help="continue with another rule (default the run's)")
    p.add_argument("--lr", type=float, metavar="LR", help="learning rate (default the rule's)")
    p.add_argument("--sample-rate", type=float, metavar="HZ",
                   help="rate of the source when it differs from the run's (LSL: its own)")
    p.add_argument("--resample", choices=("nearest", "area"), default="nearest",
                   help="rate conversion when the source's rate differs: nearest sample "
                        "(default) or area (average, anti-aliasing for a faster source)")
    p.add_argument("--no-learn", action="store_true", help="predict only, ignore labels")
    p.add_argument("--max-samples", type=int, metavar="N", help="stop after N samples")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S",
                   help="LSL: seconds to find the stream, and of silence that ends it (10)")
    p.add_argument("--no-tensorboard", action="store_true", help="no tb/ folder")


def _check(args: argparse.Namespace) -> None:
    if args.max_samples is not None and args.max_samples < 1:
        raise ConfigError(f"--max-samples: must be >= 1, got {args.max_samples}")
    if not args.timeout > 0:
        raise ConfigError(f"--timeout: must be > 0 s, got {args.timeout:g}")
    if args.sample_rate is not None and not args.sample_rate > 0:
        raise ConfigError(f"--sample-rate: must be > 0 Hz, got {args.sample_rate:g}")
    if args.labels and not args.labels.startswith("lsl:"):
        raise ConfigError(f"--labels: expected lsl:NAME, got {args.labels!r}")
    if args.labels and not args.source.startswith("lsl:"):
        raise ConfigError("--labels: only with an LSL --source (files carry a label column)")


def run(args: argparse.Namespace) -> int:
    from snnx.pipeline import stream as st
    from snnx.pipeline.deployed import load_run
    from snnx.pipeline.folder import check_writable

    _check(args)
    set_threads(args.threads)
    where = Path(args.run) if Path(args.run).is_dir() else Path(args.run).parent
    out = Path(args.out) if args.out else where / "streams" / time.strftime("%Y%m%d-%H%M%S")
    check_writable(out, "--out")
    deployed = load_run(args.run)
    channels = tuple(deployed.preprocessing.channels)
    rate = args.sample_rate
    src = args.source
    if src.startswith("lsl:"):
        inlet = st.lsl_inlet(src, args.timeout)
        labels = st.lsl_inlet(args.labels, args.timeout, "--labels") if args.labels else None
        n = inlet.info().channel_count()
        if n != len(channels):
            raise ConfigError(f"--source: the LSL stream has {n} channels, the run "
                              f"{len(channels)} ({', '.join(channels)})")
        rate = rate or (inlet.info().nominal_srate() or None)
        events = st.lsl_events(inlet, labels, args.timeout)
    elif src.startswith("run:"):
        events = st.run_events(deployed, src.split(":", 1)[1])
    else:
        events = st.file_events(src, channels)
    adapter = deployed.adapter(args.rule, lr=args.lr, sample_rate_hz=rate,
                               resample=args.resample)
    session = st.StreamSession(deployed, adapter, out, learn=not args.no_learn,
                               tensorboard=not args.no_tensorboard)
    stopped = False
    try:
        for sample, label in events:
            session.feed(sample, label)
            if args.max_samples and session.samples >= args.max_samples:
                break
    except KeyboardInterrupt:
        stopped = True
    finally:
        saved = session.close()
    print(session.summary())
    print(f"{'stopped; ' if stopped else ''}predictions {out / 'predictions.jsonl'}; "
          f"chip saved to {saved}")
    return 0
