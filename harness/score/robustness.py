"""Does the teacher ranking depend on how PGR and z are weighed?

METHOD.md's robustness check: score every row as ``alpha * z + (1 - alpha) * PGR`` for
alpha in {0, .25, .5, .75, 1} (alpha = .5 ranks exactly as PG), average over languages
per teacher, and compare the rankings by Spearman correlation. A ranking that flips
between alphas says the headline leans on one side of the score. We add one more
comparison: the ranking by mean PGR against the ranking by mean headroom gain (the
well-conditioned score), which shows how much ill-conditioned gaps move the ranking.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from harness.score.pgscore import ScoreRow

logger = logging.getLogger(__name__)

ALPHAS: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
ROBUSTNESS_FILE = "robustness.json"
ALL_FAMILIES = "all"


def average_ranks(values: Sequence[float]) -> np.ndarray:
    """Ranks 1..n (1 = smallest), ties sharing their average rank, as Spearman needs."""
    values = np.asarray(values, dtype=float)
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    start = 0
    while start < len(values):
        stop = start
        while stop + 1 < len(values) and sorted_values[stop + 1] == sorted_values[start]:
            stop += 1
        ranks[order[start : stop + 1]] = (start + stop) / 2 + 1
        start = stop + 1
    return ranks


def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman's rho (Pearson on average ranks); None when either side is constant."""
    if len(a) != len(b):
        raise ValueError("spearman: sequences differ in length")
    if len(a) < 2:
        return None
    ra, rb = average_ranks(a), average_ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return None
    return float(np.corrcoef(ra, rb)[0, 1])


def teacher_means(rows: Sequence[ScoreRow], value) -> dict[str, float]:
    """Mean over a teacher's rows of ``value(row)``, rows giving None left out."""
    groups: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        v = value(row)
        if v is not None:
            groups[row.teacher].append(v)
    return {t: float(np.mean(vs)) for t, vs in sorted(groups.items())}


def _blend(alpha: float):
    def value(row: ScoreRow) -> float | None:
        if row.pgr is None or row.z_score is None:
            return None
        return alpha * row.z_score + (1 - alpha) * row.pgr

    return value


def _sweep_one(rows: Sequence[ScoreRow], alphas: Sequence[float]) -> dict:
    scores = {a: teacher_means(rows, _blend(a)) for a in alphas}
    teachers = sorted(set.intersection(*(set(s) for s in scores.values()))) if scores else []
    matrix = [
        [
            spearman([scores[a][t] for t in teachers], [scores[b][t] for t in teachers])
            for b in alphas
        ]
        for a in alphas
    ]
    pgr = teacher_means(rows, lambda r: r.pgr)
    gain = teacher_means(rows, lambda r: r.headroom_gain)
    common = sorted(set(pgr) & set(gain))
    return {
        "teachers": teachers,
        "scores": {str(a): scores[a] for a in alphas},
        "rankings": {str(a): sorted(teachers, key=lambda t, a=a: -scores[a][t]) for a in alphas},
        "spearman": matrix,
        "spearman_vs_pg": {
            str(a): spearman([scores[a][t] for t in teachers], [scores[0.5][t] for t in teachers])
            for a in alphas
        }
        if 0.5 in scores
        else {},
        "spearman_pgr_vs_headroom_gain": spearman(
            [pgr[t] for t in common], [gain[t] for t in common]
        ),
        "ill_conditioned_rows": sum(r.pgr_ill_conditioned for r in rows),
        "rows": len(rows),
    }


def alpha_sweep(rows: Sequence[ScoreRow], alphas: Sequence[float] = ALPHAS) -> dict:
    """The alpha sweep per student family and over all families together.

    Returns:
        ``{"alphas": [...], "families": {family | "all": {...}}}``; each family holds the
        teacher scores and rankings per alpha, the alpha x alpha Spearman matrix, rho of
        each alpha against alpha = .5 (PG), and rho between mean-PGR and
        mean-headroom-gain rankings.
    """
    skipped = sum(r.pgr is None or r.z_score is None for r in rows)
    if skipped:
        logger.warning("alpha sweep: %d row(s) lack PGR or z and are left out", skipped)
    by_family: dict[str, list[ScoreRow]] = defaultdict(list)
    for row in rows:
        by_family[row.student_family].append(row)
    families = {family: _sweep_one(group, alphas) for family, group in sorted(by_family.items())}
    if len(by_family) > 1:
        families[ALL_FAMILIES] = _sweep_one(rows, alphas)
    return {"alphas": list(alphas), "skipped_rows": skipped, "families": families}


def write_robustness(result: dict, path: str | Path) -> Path:
    """Write the sweep as indented JSON; returns the file written."""
    from harness.files import atomic_write_text

    return atomic_write_text(path, json.dumps(result, indent=2, ensure_ascii=False) + "\n")
