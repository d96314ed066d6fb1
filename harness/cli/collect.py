"""``polyglot-harness collect``: lm-eval samples -> one SFT dataset per (teacher, language)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "collect",
        help="turn lm-eval --log_samples output into SFT datasets (parquet)",
        description="Read lm-eval output of polyglot_* tasks and write "
        "<out>/<teacher>/<lang>/data.parquet, then print per-strategy statistics.",
    )
    parser.add_argument("runs", type=Path, help="lm-eval --output_path folder")
    parser.add_argument("--out", type=Path, default=Path("data"))
    parser.add_argument("--teacher", help="record this teacher name instead of the model id")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace datasets already in --out; by default they are merged "
                        "with (new rows replace rows of the same strategy and seed_id, the "
                        "rest are kept)")  # fmt: skip
    parser.add_argument("--protocol",
                        help="which checks decide `valid`: paper (parses and non-empty), "
                        "corrected (also no refusal, target language), or paper+<correction>; "
                        "default: the protocol the generation run recorded, else paper")  # fmt: skip
    parser.add_argument("--format", choices=["simple", "github"], default="simple",
                        help="table format (github: markdown)")  # fmt: skip
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from harness.collect import collect, load_collected, stats_rows

    written = collect(
        args.runs, args.out, teacher=args.teacher, overwrite=args.overwrite, protocol=args.protocol
    )
    rows = []
    for path in written.values():
        rows.extend(stats_rows(load_collected(path)))
    print(tabulate(rows, headers="keys", tablefmt=args.format, floatfmt=".2f"))
    for (teacher, language), path in written.items():
        print(f"{teacher} {language}: {path}")
    return 0
