"""Rank stability of teachers over bootstrap replicates, and their tie groups.

Why: a leaderboard that orders teachers by point scores claims more than the data
supports when two scores are within noise of each other. For each teacher pair, the
share of replicates in which A's score is above B's (ties count half). Tie groups:
teachers in point order; a teacher joins the group of the teacher just above it while
the share of replicates that rank that neighbour above it is below ``level`` (95 %).
A group shares the rank of its best member ("=2"). Replicate 0 of every array is the
point value, as :mod:`harness.score.bootstrap` draws them.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from harness.naming import ALL_FAMILIES
from harness.score.intervals import INTERVAL_VALUES
from harness.score.pgscore import ScoreRow

LEVEL = 0.95


def percentile_interval(samples: np.ndarray, level: float = LEVEL) -> tuple[float, float] | None:
    """The central ``level`` percentile interval of the finite replicates (None if none)."""
    kept = samples[np.isfinite(samples)]
    if not kept.size:
        return None
    lo, hi = np.percentile(kept, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def pairwise_above(samples: Mapping[str, np.ndarray]) -> dict[str, dict[str, float | None]]:
    """Share of replicates in which each teacher is above each other (ties count half)."""
    names = list(samples)
    x = np.array([samples[n] for n in names], dtype=float)
    ok = np.isfinite(x)[:, None, :] & np.isfinite(x)[None, :, :]
    wins = (x[:, None, :] > x[None, :, :]) + 0.5 * (x[:, None, :] == x[None, :, :])
    n = ok.sum(axis=2)
    share = np.where(n > 0, (wins * ok).sum(axis=2) / np.maximum(n, 1), np.nan)
    return {
        a: {b: None if np.isnan(share[i, j]) else float(share[i, j])
            for j, b in enumerate(names) if b != a}
        for i, a in enumerate(names)
    }  # fmt: skip


def tie_groups(
    order: Sequence[str], above: Mapping[str, Mapping[str, float | None]], level: float = LEVEL
) -> list[list[str]]:
    """Runs of the point order whose neighbours are not ranked apart in ``level`` of replicates."""
    groups = [[order[0]]] if order else []
    for upper, lower in itertools.pairwise(order):
        share = above[upper][lower]
        if share is not None and share >= level:
            groups.append([lower])
        else:
            groups[-1].append(lower)
    return groups


def rank_scope(samples: Mapping[str, np.ndarray], level: float = LEVEL) -> dict[str, Any]:
    """Point order, intervals, pairwise shares, tie groups and ranks of one set of teachers.

    ``samples`` maps each teacher to its replicates, replicate 0 being the point.
    """
    point = {t: float(s[0]) for t, s in samples.items() if np.isfinite(s[0])}
    order = sorted(point, key=lambda t: (-point[t], t))
    boot = {t: samples[t][1:] for t in order}
    above = pairwise_above(boot)
    groups = tie_groups(order, above, level)
    rank, tied = {}, {}
    for group in groups:
        for t in group:
            rank[t], tied[t] = order.index(group[0]) + 1, len(group) > 1
    bounds = {t: percentile_interval(boot[t], level) for t in order}
    return {
        "teachers": order, "point": point,
        "lo": {t: b and b[0] for t, b in bounds.items()},
        "hi": {t: b and b[1] for t, b in bounds.items()},
        "rank": rank, "tied": tied, "groups": groups, "above": above,
    }  # fmt: skip


def rank_table(
    point: Sequence[ScoreRow],
    samples: Mapping[tuple[str, str, str], Mapping[str, np.ndarray]],
    *,
    level: float = LEVEL,
) -> dict[str, Any]:
    """Rank stability per value: per family (mean over languages, the family tables'
    order) and, with several families, over families (mean of family means)."""
    out: dict[str, Any] = {"values": {}}
    families = sorted({r.student_family for r in point})
    for name in INTERVAL_VALUES:
        means: dict[str, dict[str, np.ndarray]] = {}
        for family in families:
            by_teacher: dict[str, list[np.ndarray]] = defaultdict(list)
            for row in point:
                reps = samples[(row.student_family, row.teacher, row.language)].get(name)
                if row.student_family == family and reps is not None and getattr(row, name) is not None:  # fmt: skip
                    by_teacher[row.teacher].append(reps)
            means[family] = {t: np.mean(v, axis=0) for t, v in by_teacher.items()}
        scopes = {f: rank_scope(m, level) for f, m in means.items() if m}
        if len(families) > 1:
            over: dict[str, list[np.ndarray]] = defaultdict(list)
            for m in means.values():
                for t, reps in m.items():
                    over[t].append(reps)
            scopes[ALL_FAMILIES] = rank_scope({t: np.mean(v, axis=0) for t, v in over.items()}, level)  # fmt: skip
        out["values"][name] = scopes
    return out
