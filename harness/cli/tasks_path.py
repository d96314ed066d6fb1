"""``polyglot-harness tasks-path``: the folder to give ``lm_eval --include_path``."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tasks-path",
        help="print the lm-eval task folder (for --include_path)",
        description="Print the folder holding the polyglot_* lm-eval tasks. Not needed "
        "normally: the installed hook adds it to every lm-eval TaskManager unless "
        "POLYGLOT_HARNESS_AUTOLOAD=0.",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from harness.paths import tasks_path

    print(tasks_path())
    return 0
