"""``polyglot-harness tasks-path``: the folder to give ``lm_eval --include_path``."""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tasks-path",
        help="print the lm-eval task folder (for --include_path)",
        description="Print the folder holding the polyglot_* lm-eval tasks. Not needed "
        "normally: the installed hook adds it to every lm-eval TaskManager unless "
        "POLYGLOT_HARNESS_AUTOLOAD=0.",
    )
    parser.add_argument(
        "--packs",
        action="store_true",
        help="print the folder of the language packs' tasks instead (written on first use; "
        "POLYGLOT_HARNESS_LANGUAGE_PACKS names the packs)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.packs:
        from harness.autoload import pack_tasks_path

        folder = pack_tasks_path()
        if folder is None:
            print("polyglot-harness tasks-path: no language pack is installed or named in "
                  "POLYGLOT_HARNESS_LANGUAGE_PACKS", file=sys.stderr)  # fmt: skip
            return 2
        print(folder)
        return 0
    from harness.paths import tasks_path

    print(tasks_path())
    return 0
