"""``polyglot-harness analyze``: PCA, PG vs teacher size, intrinsic vs extrinsic; PNGs + JSON."""

from __future__ import annotations

import argparse
import sys

from harness.cli.main import one_line_errors


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``analyze``."""
    parser = subparsers.add_parser(
        "analyze",
        help="PCA of intrinsic metrics, PG vs teacher size, intrinsic vs extrinsic correlations",
        description="Writes <out>/analysis.json and PNG plots (needs the 'analysis' extra).",
    )
    parser.add_argument(
        "inputs", nargs="*", metavar="SCORES [METRICS]",
        help="same as --scores and --intrinsic, positionally",
    )  # fmt: skip
    parser.add_argument(
        "--scores", default="scores", help="scores.jsonl or its folder (default: scores)"
    )
    parser.add_argument(
        "--intrinsic",
        default=None,
        help="intrinsic metrics folder or JSONL (PCA is skipped without it)",
    )
    parser.add_argument("--out", default="analysis", help="output folder (default: analysis)")
    parser.add_argument(
        "--sizes",
        default=None,
        help='JSON file {"teacher": billions_of_parameters} replacing size_b of teachers.yaml',
    )
    parser.set_defaults(run=one_line_errors(run))
    return parser


def run(args: argparse.Namespace) -> int:
    """Run every analysis the inputs allow and report where the results went."""
    from pathlib import Path

    from harness.errors import ConfigError
    from harness.files import check_out_folder
    from harness.score.analysis import ANALYSIS_FILE, read_sizes, run_analysis

    if len(args.inputs) > 2:
        raise ConfigError("analyze takes at most two positional inputs: SCORES [METRICS]")
    if args.inputs:
        args.scores = args.inputs[0]
    if len(args.inputs) == 2:
        args.intrinsic = args.inputs[1]
    from harness.score.inputs import read_intrinsic
    from harness.score.pgscore import read_scores

    try:  # a HarnessError ends in one line via one_line_errors; so does an OSError here
        check_out_folder(args.out)
        sizes = read_sizes(args.sizes) if args.sizes else None
        scores = read_scores(args.scores)
        intrinsic = read_intrinsic(args.intrinsic) if args.intrinsic else []
        result = run_analysis(scores, intrinsic, args.out, sizes=sizes)
    except OSError as exc:
        print(f"polyglot-harness analyze: {exc}", file=sys.stderr)
        return 2
    pca = result["pca"]
    if "r2_score" in pca:
        ratios = ", ".join(f"{r:.1%}" for r in pca["explained_variance_ratio"][:4])
        print(f"PCA: PC1-4 explain {ratios}; linear model R^2 = {pca['r2_score']:.3f}")
    else:
        print(f"PCA skipped: {pca['skipped']}")
    for family, fit in result["size_regression"]["families"].items():
        if "beta" in fit:
            print(
                f"{family}: PG ~ ln(size) beta = {fit['beta']:.3f}, p = {fit['p_value']:.3f} (n = {fit['n']})"
            )
    print(f"wrote {Path(args.out) / ANALYSIS_FILE} and plots")
    return 0
