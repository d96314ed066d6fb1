"""``polyglot-harness leaderboard``: print the tables and write leaderboard.md.

When the grid's ``costs.json`` sits beside ``scores.jsonl``, the measured GPU-hours to
benchmark each teacher follow the score tables; with the bootstrap's ``intervals.jsonl``
and ``ranks.json`` there, cells show 95 % intervals and teachers that are not ordered
apart share a rank; ``predicted.jsonl`` rows get a section of their own.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from harness.cli.main import one_line_errors
from harness.naming import LEADERBOARD_MD


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``leaderboard``."""
    parser = subparsers.add_parser(
        "leaderboard",
        help="print leaderboard tables from scores.jsonl and write leaderboard.md",
        description="Tables per teacher (average and per language) and per student family; "
        "cells with an ill-conditioned PGR gap are marked. A costs.json beside the scores "
        "(written by `polyglot-harness run`) adds each teacher's measured GPU-hours; the "
        "bootstrap's intervals.jsonl and ranks.json add intervals and tie groups.",
    )
    parser.add_argument("scores_path", nargs="?", metavar="SCORES", help="same as --scores")
    parser.add_argument(
        "--scores", default="scores", help="scores.jsonl or its folder (default: scores)"
    )
    parser.add_argument(
        "--out",
        default=None,
        help="markdown file to write (default: <scores folder>/leaderboard.md)",
    )
    parser.add_argument(
        "--values",
        default=None,
        help="comma-separated columns to tabulate: pg_score, pgr, z_score, headroom_gain, "
        "student_score (default: the leaderboard's own, PG-Score and headroom gain)",
    )
    parser.add_argument(
        "--sort",
        default="value",
        choices=["value", "headroom"],
        help="value: each table by its own column (default); headroom: every table by "
        "headroom gain, which stays well-conditioned where PGR is not",
    )
    parser.add_argument(
        "--tablefmt", default="simple", help="tabulate format for the terminal (default: simple)"
    )
    parser.set_defaults(run=one_line_errors(run))
    return parser


def run(args: argparse.Namespace) -> int:
    """Print the terminal tables and write the GitHub-markdown copy."""
    from pathlib import Path

    from harness.errors import ConfigError
    from harness.files import atomic_write_text, check_out_file
    from harness.score.costs import read_costs
    from harness.score.intervals import read_intervals
    from harness.score.pgscore import read_scores
    from harness.score.tables import VALUES, leaderboard, read_predicted

    if args.scores_path:
        args.scores = args.scores_path
    scores = Path(args.scores)
    out = (
        Path(args.out)
        if args.out
        else (scores if scores.is_dir() else scores.parent) / LEADERBOARD_MD
    )
    shown: dict[str, Any] = {}
    if args.values is not None:  # else the leaderboard's own default columns
        shown["values"] = [v.strip() for v in args.values.split(",") if v.strip()]
        if not shown["values"]:
            raise ConfigError(
                f"--values {args.values!r} names no column; choose from {', '.join(VALUES)}"
            )
    check_out_file(out)
    rows = read_scores(args.scores)
    hours = read_costs(args.scores)
    shown |= {
        "intervals": read_intervals(args.scores, rows),
        "sort": args.sort,
        "predicted": read_predicted(args.scores),
    }
    terminal = leaderboard(rows, tablefmt=args.tablefmt, **shown)
    terminal += _costs(hours, args.tablefmt)
    markdown = leaderboard(rows, tablefmt="github", **shown) + _costs(hours, "github")
    print(terminal)
    try:
        atomic_write_text(out, markdown)  # a kill mid-write keeps the previous leaderboard
    except OSError as exc:
        print(f"polyglot-harness leaderboard: cannot write {out}: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


def _costs(hours: dict[str, dict[str, float]] | None, tablefmt: str) -> str:
    """The cost table to append after the leaderboard ("" without ``costs.json``).

    Why after: the scores answer "which teacher", the hours answer "at what price",
    and a run scored outside the grid has no measured hours to show.
    """
    from harness.score.costs import cost_table

    table = cost_table(hours or {}, tablefmt=tablefmt)
    return f"\n{table}\n" if table else ""
