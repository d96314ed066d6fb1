"""``polyglot-harness run GRID.yaml``: benchmark teachers with one command.

Compiles the grid into jobs (generate, collect, intrinsic, train, evaluate, score,
leaderboard, publish), skips what is done, and runs the rest on the grid's executor
(local, slurm or ray). Rerunning the same command continues where a killed run stopped.
"""

from __future__ import annotations

import argparse
import sys

from harness.naming import COSTS_LOG, LEADERBOARD_MD


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``run``."""
    parser = subparsers.add_parser(
        "run",
        help="run (or continue) a grid: teachers x languages x student families, one command",
        description="Run every job of a grid file on its executor; finished jobs are skipped.",
    )
    parser.add_argument("grid", nargs="?", help="grid YAML file (see --example)")
    parser.add_argument("--example", action="store_true", help="print the bundled example grid")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the job graph, what is done and estimated hours; run nothing")  # fmt: skip
    parser.add_argument("--costs-from", action="append", default=[], metavar="GRID_OUT",
                        help="with --dry-run: also estimate from this grid folder's costs.jsonl "
                        "(repeatable)")  # fmt: skip
    parser.add_argument("--out", default=None, help="output folder (overrides the file's 'out')")
    parser.add_argument("--executor", default=None, help="local, slurm or ray (overrides the file)")
    parser.set_defaults(run=run)
    return parser


def load(args: argparse.Namespace):
    """The grid of ``args`` (shared with ``status``)."""
    from dataclasses import replace

    from harness.errors import ConfigError
    from harness.grid.executors import EXECUTORS
    from harness.grid.spec import load_grid

    if not args.grid:
        raise ConfigError("give a grid file (polyglot-harness run --example prints one)")
    spec = load_grid(args.grid, out=args.out)
    executor = getattr(args, "executor", None)
    if executor:
        if executor not in EXECUTORS:
            raise ConfigError(f"unknown executor {executor!r}; use one of {', '.join(EXECUTORS)}")
        spec = replace(spec, executor=executor, executor_options={})
    return spec


def run(args: argparse.Namespace) -> int:
    from harness.grid.spec import example_path

    if args.example:
        sys.stdout.write(example_path().read_text(encoding="utf-8"))
        return 0
    from harness.grid.costs import format_summary
    from harness.grid.driver import format_dry_run, run_grid
    from harness.grid.records import GridPaths, cost_records

    spec = load(args)
    if args.dry_run:
        from pathlib import Path

        missing = [p for p in args.costs_from if not (Path(p) / COSTS_LOG).is_file()]
        if missing:
            from harness.errors import InputNotFoundError

            raise InputNotFoundError(f"--costs-from {missing[0]}: no costs.jsonl there")
        print(format_dry_run(spec, costs_from=[Path(p) for p in args.costs_from]))
        return 0
    from harness.requirements import check_grid

    check_grid(spec)  # a package some job needs is missing: say so before the first job
    report = run_grid(spec)
    paths = GridPaths(spec.out.resolve())
    print(f"grid {spec.name}: {len(report.done)} jobs run, {len(report.skipped_done)} already "
          f"done, {len(report.failed)} failed, {len(report.blocked)} blocked "
          f"({report.seconds:.0f} s)")  # fmt: skip
    for key, log in report.failed.items():
        print(f"failed: {key}  log: {log}")
    for key, cause in report.blocked.items():
        print(f"not run: {key} (needs {cause}, which failed)")
    board = spec.out / "scores" / LEADERBOARD_MD
    if board.is_file():
        print(board.read_text(encoding="utf-8"))
    print(format_summary(cost_records(paths)))
    return 0 if report.ok else 1
