"""``polyglot-harness score``: PGR, z, PG and the well-conditioned score of every student."""

from __future__ import annotations

import argparse
import logging
import sys

from harness.naming import INTERVALS_FILE, RANKS_FILE

logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``score`` (flags only; the work is in :mod:`harness.score`)."""
    parser = subparsers.add_parser(
        "score",
        help="compute PGR, z-scores and PG-Score from extrinsic and intrinsic results",
        description="Score every student: writes <out>/scores.jsonl and <out>/robustness.json.",
    )
    parser.add_argument(
        "--extrinsic",
        required=True,
        help="long-format extrinsic JSONL, an lm-eval output folder, or a folder of either",
    )
    parser.add_argument(
        "--intrinsic",
        default=None,
        help="intrinsic metrics: the intrinsic stage's folder (summary.jsonl) or a JSONL file; "
        "without it z and PG are null",
    )
    parser.add_argument("--out", default="scores", help="output folder (default: scores)")
    parser.add_argument(
        "--gap-k",
        type=float,
        default=2.0,
        help="a gap (reference - base) is ill-conditioned below k combined stderrs (default 2)",
    )
    parser.add_argument(
        "--gap-floor",
        type=float,
        default=0.02,
        help="... or below this absolute floor, the only test when stderrs are missing (default 0.02)",
    )
    parser.add_argument(
        "--ceiling",
        type=float,
        default=1.0,
        help="best possible score, for headroom gain (default 1)",
    )
    parser.add_argument(
        "--protocol",
        default=None,
        help="protocol the inputs must have recorded (paper, corrected, paper+<correction>...); "
        "default: any one protocol, which every score row then names",
    )
    parser.add_argument(
        "--replicates",
        type=int,
        default=1000,
        help="bootstrap replicates for the intervals and rank stability (0: none; default 1000)",
    )
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Read, score, write; returns the exit status (2 on bad input)."""
    from pathlib import Path

    from harness.errors import HarnessError
    from harness.files import check_out_folder
    from harness.protocol import resolve
    from harness.score.inputs import read_extrinsic, read_intrinsic
    from harness.score.pgscore import SCORES_FILE, GapPolicy, score_run, write_scores
    from harness.score.robustness import ROBUSTNESS_FILE, alpha_sweep, write_robustness

    out = Path(args.out)
    try:
        check_out_folder(out)  # before any work: a file there is the user's, not ours
        policy = GapPolicy(k=args.gap_k, floor=args.gap_floor, ceiling=args.ceiling)
        if args.protocol is not None:
            resolve(args.protocol)  # a typo fails before any input is read
        unknown: list = []  # results of tasks no benchmark record claims: named, not dropped
        extrinsic = read_extrinsic(args.extrinsic, unknown=unknown)
        intrinsic = read_intrinsic(args.intrinsic) if args.intrinsic else None
        rows = score_run(extrinsic, intrinsic, policy=policy, protocol=args.protocol)
    except HarnessError as exc:
        print(f"polyglot-harness score: {exc}", file=sys.stderr)
        return 2
    try:
        scores_path = write_scores(rows, out / SCORES_FILE)
        robustness_path = write_robustness(alpha_sweep(rows), out / ROBUSTNESS_FILE)
    except OSError as exc:
        print(f"polyglot-harness score: cannot write into {out}: {exc}", file=sys.stderr)
        return 2
    written = [scores_path, robustness_path]
    if args.replicates > 0:
        from harness.score.bootstrap import bootstrap_run

        try:  # intervals resample lm-eval's per-item outputs and the intrinsic rows
            bootstrap_run(extrinsic, intrinsic, out=out, replicates=args.replicates,
                          seed=args.seed, policy=policy)  # fmt: skip
        except HarnessError as exc:
            print(f"polyglot-harness score: intervals: {exc}", file=sys.stderr)
            return 2
        written += [out / INTERVALS_FILE, out / RANKS_FILE]
    ill = sum(r.pgr_ill_conditioned for r in rows)
    protocol = rows[0].protocol or "unrecorded"
    print(
        f"scored {len(rows)} students under protocol {protocol} "
        f"({ill} with an ill-conditioned PGR gap)"
    )
    for task in unknown:
        print(f"not scored (no benchmark record claims it): {task}")
    print("wrote " + ", ".join(str(p) for p in written))
    return 0
