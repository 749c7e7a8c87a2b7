"""The ``snnx`` command line.

Every user error (bad recipe, bad override, unknown preset, unreadable file) prints ONE line
``snnx: error: <key.path>: <what is wrong>`` to stderr and exits with status 2, without a
traceback. A closed output pipe (``snnx recipes list | head -1``) ends the command quietly
with status 141, as a program killed by SIGPIPE. Commands are modules (``HELP``, ``add_args(parser)``, ``run(args) -> int``),
registered in :data:`COMMANDS` by explicit import; a new command is one module plus one line.

Examples::

    snnx hw list
    snnx hw show rram_generic --set periphery.adc_bits=6
    snnx recipes list
    snnx adapt --recipe recipes/har_dfa.yaml --set adapt.rule=bp
    snnx cim --recipe recipes/cim_explorer.yaml --bits 3 4 6 ideal
"""

from __future__ import annotations

import logging
import sys

from snnx.cli import (adapt, cim, compare, data, dse, evaluate, hw, nf, recipes, stream, sweep,
                      train)
from snnx.cli.common import EXIT_PIPE, EXIT_USAGE, Parser, quiet_stdout
from snnx.config.registry import Registry
from snnx.errors import SnnxError

COMMANDS = Registry("command", {
    "adapt": (adapt, adapt.HELP),
    "train": (train, train.HELP),
    "eval": (evaluate, evaluate.HELP),
    "compare": (compare, compare.HELP),
    "stream": (stream, stream.HELP),
    "sweep": (sweep, sweep.HELP),
    "nf": (nf, nf.HELP),
    "cim": (cim, cim.HELP),
    "hw": (hw, hw.HELP),
    "recipes": (recipes, recipes.HELP),
    "data": (data, data.HELP),
    "dse": (dse, dse.HELP),
})
"""Command name -> command module."""


def build_parser() -> Parser:
    """The top-level parser with every registered command."""
    p = Parser(prog="snnx", description="Neural networks on simulated RRAM crossbars, "
               "adapted on-line on the crossbar.")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name in COMMANDS:
        entry = COMMANDS.entry(name)
        entry.load().add_args(sub.add_parser(name, help=entry.description,
                                             description=entry.description))
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``snnx`` console script."""
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(message)s")
    try:
        code = COMMANDS[args.command].run(args) or 0
        sys.stdout.flush()
        return code
    except SnnxError as e:
        print(f"snnx: error: {' '.join(str(e).split())}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        quiet_stdout()
        return EXIT_PIPE
    except KeyboardInterrupt:  # pragma: no cover
        print("snnx: interrupted", file=sys.stderr)
        return 130


__all__ = ["COMMANDS", "build_parser", "main"]
