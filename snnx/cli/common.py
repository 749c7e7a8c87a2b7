"""What the commands share: the one-line-error parser, ``--set``, ``--threads``.

A command is a module with ``HELP`` (one line), ``add_args(parser)`` and ``run(args) -> int``
(see :mod:`snnx.cli`); heavy imports (torch, the pipeline) happen inside ``run``.
"""

from __future__ import annotations

import argparse
import os
import sys

from snnx.errors import SnnxError

EXIT_USAGE = 2
EXIT_PIPE = 141
"""Exit status after the reader of our output went away (128 + SIGPIPE, as the shell)."""


def quiet_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush after a broken pipe
    prints nothing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # pragma: no cover - stdout without a descriptor
        pass


class Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line with exit status 2."""

    def error(self, message: str) -> None:  # pragma: no cover - exercised via CLI tests
        self.exit(EXIT_USAGE, f"snnx: error: {message}\n")


def set_examples(p: argparse.ArgumentParser, text: str) -> None:
    """Show ``text`` as the parser's 'examples:' epilog (kept as written)."""
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = "examples:\n" + text.rstrip()


def parse_sets(items: list[str] | None) -> dict:
    """``--set key=value`` items as ``{key: value}`` (values parsed as YAML)."""
    from snnx.config.overrides import parse_override

    return dict(parse_override(item) for item in items or [])


def add_set(p: argparse.ArgumentParser, what: str = "a recipe key",
            example: str = "adapt.lr=5e-3") -> None:
    """``--set KEY=VALUE`` (repeatable)."""
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help=f"override {what}, e.g. --set {example} (repeatable)")


def add_threads(p: argparse.ArgumentParser, default_note: str = "1") -> None:
    """``--threads N``."""
    p.add_argument("--threads", type=int, metavar="N",
                   help=f"torch intra-op threads (default {default_note}): results are "
                        f"reproducible for a given count; the shipped models are small, and "
                        f"one thread is the fastest on a shared machine")


def set_threads(n: int | None, default: int = 1) -> None:
    """Set torch's intra-op threads (``--threads``)."""
    import torch

    n = default if n is None else n
    if n < 1:
        raise SnnxError(f"--threads: must be >= 1, got {n}")
    torch.set_num_threads(n)
