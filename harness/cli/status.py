"""``polyglot-harness status GRID.yaml``: what is done, running, failed or pending.

Read from the grid's records on disk, so it works while a driver runs, after one was
killed, or from another machine sharing the file system.
"""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``status``."""
    parser = subparsers.add_parser(
        "status",
        help="state of every job of a grid (done / running / failed / pending), with log paths",
        description="Counts per stage, then one line per unfinished job with its log.",
    )
    parser.add_argument("grid", nargs="?", help="grid YAML file")
    parser.add_argument("--out", default=None, help="output folder (overrides the file's 'out')")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from harness.cli.run import load
    from harness.grid.driver import format_status, grid_status

    statuses = grid_status(load(args))
    print(format_status(statuses))
    return 0
