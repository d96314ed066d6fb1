"""``polyglot-harness score``: PGR, z, PG and the well-conditioned score of every student.

Flags are generated from :class:`harness.score.config.ScoreConfig` (see
:mod:`harness.cli.flags`), whose gap-rule defaults are the scorer's own.
"""

from __future__ import annotations

import argparse
import logging
import sys

from harness.cli import flags
from harness.cli.main import one_line_errors
from harness.naming import INTERVALS_FILE, RANKS_FILE

logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``score`` (flags only; the work is in :mod:`harness.score`)."""
    from harness.score.config import ScoreConfig

    parser = subparsers.add_parser(
        "score",
        help="compute PGR, z-scores and PG-Score from extrinsic and intrinsic results",
        description="Score every student: writes <out>/scores.jsonl and <out>/robustness.json.",
    )
    flags.add_config_flags(parser, ScoreConfig)
    parser.set_defaults(run=one_line_errors(run))
    return parser


def run(args: argparse.Namespace) -> int:
    """Read, score, write; a bad input raises (one line and exit 2, via main)."""
    from pathlib import Path

    from harness.files import check_out_folder
    from harness.score.config import ScoreConfig
    from harness.score.inputs import read_extrinsic, read_intrinsic
    from harness.score.pgscore import SCORES_FILE, score_run, write_scores
    from harness.score.robustness import ROBUSTNESS_FILE, alpha_sweep, write_robustness

    config = flags.build(ScoreConfig, args)
    out = Path(config.out)
    check_out_folder(out)  # before any work: a file there is the user's, not ours
    policy = config.policy()
    unknown: list = []  # results of tasks no benchmark record claims: named, not dropped
    extrinsic = read_extrinsic(config.extrinsic, unknown=unknown)
    intrinsic = read_intrinsic(config.intrinsic) if config.intrinsic else None
    rows = score_run(extrinsic, intrinsic, policy=policy, protocol=config.protocol)
    try:
        scores_path = write_scores(rows, out / SCORES_FILE)
        robustness_path = write_robustness(alpha_sweep(rows), out / ROBUSTNESS_FILE)
    except OSError as exc:
        print(f"polyglot-harness score: cannot write into {out}: {exc}", file=sys.stderr)
        return 2
    written = [scores_path, robustness_path]
    if config.replicates > 0:
        from harness.score.bootstrap import bootstrap_run

        # intervals resample lm-eval's per-item outputs and the intrinsic rows
        logger.info("bootstrap intervals: %d replicates, seed %d", config.replicates, config.seed)
        bootstrap_run(extrinsic, intrinsic, out=out, replicates=config.replicates,
                      seed=config.seed, policy=policy)  # fmt: skip
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
