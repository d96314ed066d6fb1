"""Scoring stage: PGR, intrinsic z-scores, PG-Score, robustness, tables and analysis.

Heavy analysis dependencies (scikit-learn, scipy, matplotlib) load only inside
:mod:`harness.score.analysis` functions.
"""

from harness.score.inputs import read_extrinsic, read_intrinsic
from harness.score.lm_eval_results import read_lm_eval_results, task_benchmark
from harness.score.pgscore import (
    GapPolicy,
    ScoreRow,
    ZFit,
    fit_z_scores,
    read_scores,
    score_run,
    write_scores,
)
from harness.score.robustness import ALPHAS, alpha_sweep, spearman
from harness.score.rows import ExtrinsicRow, IntrinsicRow

__all__ = [
    "ALPHAS",
    "ExtrinsicRow",
    "GapPolicy",
    "IntrinsicRow",
    "ScoreRow",
    "ZFit",
    "alpha_sweep",
    "fit_z_scores",
    "read_extrinsic",
    "read_intrinsic",
    "read_lm_eval_results",
    "read_scores",
    "score_run",
    "spearman",
    "task_benchmark",
    "write_scores",
]
