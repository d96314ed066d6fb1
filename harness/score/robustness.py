"""Does the ranking depend on how PGR and z are weighed?

METHOD.md's robustness check, as the paper's code runs it: score every (teacher,
language) row as ``alpha * z + (1 - alpha) * PGR`` for alpha in {0, .25, .5, .75, 1}
(alpha = .5 ranks exactly as PG) and compare the alphas' orderings of the *rows* by
Spearman correlation: 60 rows for one student family of 10 teachers x 6 languages, not
10 per-teacher means. Per-teacher means would hide a teacher that wins in one language
on PGR and in another on z, and ten points give a far noisier rho than sixty. A rho
well below 1 says the headline leans on one side of the score. We add one more
comparison: the rows ranked by PGR against the rows ranked by headroom gain (the
well-conditioned score), which shows how much ill-conditioned gaps move the ranking.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.naming import ALL_FAMILIES
from harness.protocol import check_same
from harness.score.pgscore import ScoreRow

logger = logging.getLogger(__name__)

ALPHAS: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
PG_ALPHA = 0.5  # alpha * z + (1 - alpha) * PGR ranks as PG = (PGR + z) / 2
ROBUSTNESS_FILE = "robustness.json"


def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman's rho (scipy's, ties at their average rank); None when it is undefined.

    Undefined means fewer than two pairs or a constant side: scipy answers NaN with a
    warning there, which JSON cannot hold and a reader would take for a number.
    """
    if len(a) != len(b):
        raise ValueError("spearman: sequences differ in length")
    if len(a) < 2 or np.ptp(np.asarray(a, dtype=float)) == 0:
        return None
    if np.ptp(np.asarray(b, dtype=float)) == 0:
        return None
    from scipy import stats

    return float(stats.spearmanr(a, b).statistic)


def blend(alpha: float) -> Callable[[ScoreRow], float | None]:
    """``alpha * z + (1 - alpha) * PGR`` of a row; None when it lacks either."""

    def value(row: ScoreRow) -> float | None:
        if row.pgr is None or row.z_score is None:
            return None
        return alpha * row.z_score + (1 - alpha) * row.pgr

    return value


def _sweep_one(rows: Sequence[ScoreRow], alphas: Sequence[float]) -> dict[str, Any]:
    scored = [r for r in rows if r.pgr is not None and r.z_score is not None]
    values = {a: [blend(a)(r) for r in scored] for a in alphas}
    matrix = [[spearman(values[a], values[b]) for b in alphas] for a in alphas]
    paired = [r for r in rows if r.pgr is not None and r.headroom_gain is not None]
    return {
        "rows": len(scored),
        "spearman": matrix,
        "spearman_vs_pg": {str(a): spearman(values[a], values[PG_ALPHA]) for a in alphas}
        if PG_ALPHA in values
        else {},
        "spearman_pgr_vs_headroom_gain": spearman(
            [r.pgr for r in paired], [r.headroom_gain for r in paired]
        ),
        "ill_conditioned_rows": sum(r.pgr_ill_conditioned for r in rows),
    }


def alpha_sweep(rows: Sequence[ScoreRow], alphas: Sequence[float] = ALPHAS) -> dict[str, Any]:
    """The alpha sweep per student family and over all families together.

    Returns:
        ``{"alphas": [...], "protocol": ..., "skipped_rows": n, "families": {family |
        "all": {...}}}``; each family holds the number of rows compared, the alpha x
        alpha Spearman matrix over its (teacher, language) rows, rho of each alpha
        against alpha = .5 (PG), and rho between the rows' PGR and headroom gain.

    Raises:
        ConfigError: rows of different protocols (read from several score files).
    """
    protocol = check_same(
        {
            f"score row {i} ({r.teacher} {r.language} {r.student_family})": r.protocol
            for i, r in enumerate(rows, 1)
        },
        what="score rows",
    )
    skipped = sum(r.pgr is None or r.z_score is None for r in rows)
    if skipped:
        logger.warning("alpha sweep: %d row(s) lack PGR or z and are left out", skipped)
    by_family: dict[str, list[ScoreRow]] = defaultdict(list)
    for row in rows:
        by_family[row.student_family].append(row)
    families = {family: _sweep_one(group, alphas) for family, group in sorted(by_family.items())}
    if len(by_family) > 1:
        families[ALL_FAMILIES] = _sweep_one(rows, alphas)
    return {
        "alphas": list(alphas),
        "protocol": protocol,
        "skipped_rows": skipped,
        "families": families,
    }


def write_robustness(result: dict[str, Any], path: str | Path) -> Path:
    """Write the sweep as indented JSON; returns the file written."""
    from harness.files import atomic_write_text

    return atomic_write_text(path, json.dumps(result, indent=2, ensure_ascii=False) + "\n")
