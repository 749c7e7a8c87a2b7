"""``snnx data``: summarise an HDF5 file or a UCI HAR folder; convert UCI HAR to HDF5."""

from __future__ import annotations

import argparse

from snnx.cli.common import Parser

HELP = "datasets: info, convert"


def add_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="data_cmd", required=True, parser_class=Parser)
    info = sub.add_parser("info", help="summarise an HDF5 file or a UCI HAR folder")
    info.add_argument("path")
    conv = sub.add_parser("convert", help="convert a UCI HAR Dataset folder to snnx HDF5")
    conv.add_argument("src", help="the 'UCI HAR Dataset' folder")
    conv.add_argument("dst", help="output .h5 file")


def run(args: argparse.Namespace) -> int:
    from snnx.data import commands

    if args.data_cmd == "info":
        print(commands.info(args.path))
        return 0
    commands.convert_uci(args.src, args.dst)
    print(f"wrote {args.dst}")
    return 0
