"""``polyglot-harness intrinsic``: diversity, fluency, rubric score, lengths, validity, duplicates.

Flags are generated from :class:`harness.intrinsic.options.IntrinsicOptions` (see
:mod:`harness.cli.flags`): each option's help and default live once, in the dataclass,
which also checks metric names (so plugin metrics pass).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from harness.cli import flags

if TYPE_CHECKING:
    from harness.intrinsic.options import IntrinsicOptions

_DESCRIPTION = (
    "Compute per-(teacher, language) intrinsic metrics of <data>/<teacher>/<lang>/"
    "data.parquet; writes <out>/summary.jsonl, <out>/rows.parquet and one cache per metric. "
    "Metrics whose model is not given (fluency: --reference-lm, judge: --judge, lengths: "
    "--tokenizer, contamination: --benchmarks-dir) are skipped with a notice."
)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``intrinsic`` (flags only; the work is in :mod:`harness.intrinsic.run`)."""
    from harness.intrinsic.options import IntrinsicOptions

    parser = subparsers.add_parser(
        "intrinsic",
        help="intrinsic metrics of collected datasets (cached; a rerun skips finished work)",
        description=_DESCRIPTION,
    )
    parser.add_argument("data", type=Path, help="folder of collected datasets (or one dataset)")
    parser.add_argument(
        "--out", type=Path, default=Path("metrics"), help="output folder (default: metrics)"
    )
    flags.add_config_flags(
        parser,
        IntrinsicOptions,
        extra_help={
            "metrics": "(comma-separated)",
            "extra_metrics": "(comma-separated)",
            "judge": "or vllm:pretrained=...; a bare id means hf",
        },
    )
    parser.add_argument(
        "--judge-model", default=None,
        help="lm-eval model type of the judge (with --judge-args, instead of --judge)",
    )  # fmt: skip
    parser.add_argument("--judge-args", default=None, help="lm-eval model_args of the judge")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)
    return parser


def judge_spec(args: argparse.Namespace) -> str | None:
    """``--judge``, or the spec ``--judge-model`` and ``--judge-args`` spell out together.

    Raises:
        ConfigError: both ways were given.
    """
    from harness.errors import ConfigError

    judge = getattr(args, "judge", None)
    if judge and (args.judge_model or args.judge_args):
        raise ConfigError("give either --judge or --judge-model/--judge-args, not both")
    if args.judge_model or args.judge_args:
        return f"{args.judge_model or 'hf'}:{args.judge_args or ''}"
    return judge


def build_options(args: argparse.Namespace) -> IntrinsicOptions:
    """The options of parsed arguments: given flags, the dataclass's defaults for the rest."""
    from harness.intrinsic.options import IntrinsicOptions

    return flags.build(IntrinsicOptions, args, judge=judge_spec(args))


def run(args: argparse.Namespace) -> int:
    """Compute what is missing, print the summary table; 2 on bad input (via main)."""
    from harness.intrinsic.run import compute_intrinsic, format_table, read_summary

    options = build_options(args)
    summary = compute_intrinsic(args.data, args.out, options=options, progress=not args.no_progress)
    print(format_table(read_summary(summary)))
    print(f"wrote {summary} and {summary.parent / 'rows.parquet'}")
    return 0
