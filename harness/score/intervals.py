"""The bootstrap's intervals and ranks: read beside the scores, carried on published rows.

Why a module of its own: ``intervals.jsonl`` and ``ranks.json`` (written by
:mod:`harness.score.bootstrap`) are read by the leaderboard tables, the grid's finish
step and the publisher, and flattened onto the Hub's rows, where the Space reads them
back by name; one reader and one flat layout keep those in step. Intervals computed
from other scores than the ones beside them are refused here, once, rather than shown
beside numbers they do not belong to.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.naming import ALL_FAMILIES, INTERVALS_FILE, RANKS_FILE
from harness.score.pgscore import ScoreRow

logger = logging.getLogger(__name__)


INTERVAL_VALUES: tuple[str, ...] = ("student_score", "pgr", "z_score", "pg_score", "headroom_gain")


RANKED_FIELDS: tuple[str, ...] = ("pg_score", "headroom_gain")  # ranks published on Hub rows


@dataclass(frozen=True)
class TeacherRank:
    """A teacher's place in one ranking: its rank, whether it shares it, its interval."""

    rank: int
    tied: bool
    lo: float | None = None
    hi: float | None = None

    @property
    def label(self) -> str:
        """``=2`` for a rank shared with a tie group, ``2`` otherwise."""
        return f"={self.rank}" if self.tied else str(self.rank)

    @property
    def interval(self) -> tuple[float, float] | None:
        return None if self.lo is None or self.hi is None else (self.lo, self.hi)


@dataclass(frozen=True)
class Intervals:
    """Bootstrap intervals and ranks shown beside the point scores.

    ``cells`` maps (student family, teacher, language) to value -> (lo, hi); ``teachers``
    maps (value, scope, teacher) to its rank, scope being a student family (mean over
    languages) or ``all`` (mean over families).
    """

    cells: Mapping[tuple[str, str, str], Mapping[str, tuple[float, float]]]
    teachers: Mapping[tuple[str, str, str], TeacherRank]
    replicates: int | None = None
    level: float | None = None

    def cell(self, row: Any, value: str) -> tuple[float, float] | None:
        return self.cells.get((row.student_family, row.teacher, row.language), {}).get(value)

    def teacher(self, value: str, scope: str, teacher: str) -> TeacherRank | None:
        return self.teachers.get((value, scope, teacher))


def is_finite_number(value: Any) -> bool:
    """A real, finite number (not a bool, None or NaN): what an interval bound may be."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _pair(obj: Mapping[str, Any], prefix: str) -> tuple[float, float] | None:
    lo, hi = obj.get(f"{prefix}_lo"), obj.get(f"{prefix}_hi")
    return (float(lo), float(hi)) if is_finite_number(lo) and is_finite_number(hi) else None


def _stale(obj: Mapping[str, Any], row: ScoreRow) -> bool:
    """Whether an intervals row was computed from other point values than ``row``'s."""
    for value in INTERVAL_VALUES:
        a, b = obj.get(value), getattr(row, value)
        if (a is None) != (b is None) or (b is not None and not is_finite_number(a)):
            return True
        if b is not None and not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12):
            return True
    return False


def read_intervals(scores_path: str | Path, rows: Sequence[ScoreRow] = ()) -> Intervals | None:
    """The bootstrap's intervals and ranks beside ``scores.jsonl``; None without them.

    Why checked against ``rows``: intervals computed before the scores were rewritten
    would sit beside numbers they do not belong to; they are then ignored, with a warning
    saying to rerun the bootstrap.

    Raises:
        ConfigError: a file is not of the bootstrap's shape (the file named).
    """
    from harness.files import read_jsonl

    path = Path(scores_path)
    folder = path if path.is_dir() else path.parent
    if not (folder / INTERVALS_FILE).is_file():
        return None
    cells, seen, meta = {}, {}, {}
    for where, obj in read_jsonl(folder / INTERVALS_FILE):
        if not all(isinstance(obj.get(k), str) for k in ("student_family", "teacher", "language")):
            raise ConfigError(f"{where}: not an intervals row (teacher, language, student_family)")
        key = (obj["student_family"], obj["teacher"], obj["language"])
        cells[key] = {v: p for v in INTERVAL_VALUES if (p := _pair(obj, v))}
        seen[key], meta = obj, {"replicates": obj.get("replicates"), "level": obj.get("level")}
    for row in rows:
        obj = seen.get((row.student_family, row.teacher, row.language))
        if obj is not None and _stale(obj, row):
            logger.warning(
                "%s holds other scores than the leaderboard's (first: %s %s %s); ignored, "
                "rerun the bootstrap", folder / INTERVALS_FILE, row.teacher, row.language,
                row.student_family,
            )  # fmt: skip
            return None
    return Intervals(cells, _read_ranks(folder / RANKS_FILE), **meta)


def _read_ranks(path: Path) -> dict[tuple[str, str, str], TeacherRank]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        out = {}
        for value, scopes in data["values"].items():
            for scope, s in scopes.items():
                for teacher, rank in s["rank"].items():
                    lo, hi = s["lo"].get(teacher), s["hi"].get(teacher)
                    out[(value, scope, teacher)] = TeacherRank(
                        int(rank), bool(s["tied"][teacher]), lo, hi
                    )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{path}: not the bootstrap's ranks.json ({exc}); rerun it") from None
    return out


def _flat_names() -> tuple[str, ...]:
    names = ["interval_replicates", "interval_level"]
    names += [f"{v}_{end}" for v in INTERVAL_VALUES for end in ("lo", "hi")]
    for v in RANKED_FIELDS:
        for p in ("", "all_"):
            names += [f"rank_{p}{v}", f"avg_{p}{v}_lo", f"avg_{p}{v}_hi"]
    return tuple(names)


INTERVAL_FIELDS: tuple[str, ...] = _flat_names()  # what a published row carries


def interval_fields(intervals: Intervals | None, row: ScoreRow) -> dict[str, Any]:
    """The interval and rank fields of one published leaderboard row ({} without intervals).

    Flat, so the Hub's dataset viewer shows them as columns and the Space, which cannot
    import the harness, reads them by name.
    """
    if intervals is None:
        return {}
    out: dict[str, Any] = dict.fromkeys(INTERVAL_FIELDS)
    out |= {"interval_replicates": intervals.replicates, "interval_level": intervals.level}
    for value in INTERVAL_VALUES:
        out[f"{value}_lo"], out[f"{value}_hi"] = intervals.cell(row, value) or (None, None)
    for value in RANKED_FIELDS:
        for scope, p in ((row.student_family, ""), (ALL_FAMILIES, "all_")):
            rank = intervals.teacher(value, scope, row.teacher)
            if rank is not None:
                out[f"rank_{p}{value}"] = rank.label
                out[f"avg_{p}{value}_lo"], out[f"avg_{p}{value}_hi"] = rank.lo, rank.hi
    return out


def intervals_from_fields(rows: Sequence[Mapping[str, Any]]) -> Intervals | None:
    """The :class:`Intervals` that published rows carry (None when none carries any)."""
    with_fields = [r for r in rows if r.get("interval_replicates") is not None]
    if not with_fields:
        return None
    cells, teachers = {}, {}
    for r in with_fields:
        key = (str(r["student_family"]), str(r["teacher"]), str(r["language"]))
        cells[key] = {v: p for v in INTERVAL_VALUES if (p := _pair(r, v))}
        for value in RANKED_FIELDS:
            for scope, p in ((key[0], ""), (ALL_FAMILIES, "all_")):
                label = r.get(f"rank_{p}{value}")
                if isinstance(label, str) and label.lstrip("=").isdigit():
                    bounds = _pair(r, f"avg_{p}{value}") or (None, None)
                    teachers[(value, scope, key[1])] = TeacherRank(
                        int(label.lstrip("=")), label.startswith("="), *bounds
                    )
    first = with_fields[0]
    return Intervals(cells, teachers, first["interval_replicates"], first.get("interval_level"))
