"""``python -m harness.taskgen``: write the generated lm-eval task files, or check them.

The command's printing lives here; :mod:`harness.taskgen` renders and writes the files
and prints nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """``python -m harness.taskgen [--out DIR] [--check] [--extensions DIR]``."""
    from harness import taskgen
    from harness.paths import tasks_path

    parser = argparse.ArgumentParser(
        prog="python -m harness.taskgen", description=(taskgen.__doc__ or "").splitlines()[0]
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="tasks root (default: the package's)"
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 naming every stale file"
    )
    parser.add_argument(
        "--extensions", type=Path, default=None, metavar="DIR",
        help="also write the tasks of benchmarks from outside the package into DIR",
    )  # fmt: skip
    args = parser.parse_args(argv)
    where = args.out or tasks_path().resolve()
    if args.check:
        stale = taskgen.stale_files(where)
        for rel in stale:
            print(f"stale: {where / rel}", file=sys.stderr)
        if stale:
            print(f"{len(stale)} generated task file(s) are stale: run python -m harness.taskgen", file=sys.stderr)  # fmt: skip
            return 1
        print(f"generated task files under {where} are current")
        return 0
    written = taskgen.write_all(where)
    print(f"wrote {len(written)} task files under {where}")
    if args.extensions is not None:
        written = taskgen.write_extension_tasks(args.extensions)
        print(f"wrote {len(written)} task files of outside benchmarks under {args.extensions}")
    return 0
