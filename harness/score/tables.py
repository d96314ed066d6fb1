"""Leaderboard tables: per student family (teacher x language) and across families.

Rendered with tabulate, so one function serves the terminal (``tablefmt="simple"``)
and the README / Hub card (``"github"``). Cells whose PGR comes from an ill-conditioned
gap carry a dagger: the number is the paper's formula, but readers must see it is noise
amplified by a near-zero denominator.

With the bootstrap's ``intervals.jsonl`` and ``ranks.json`` beside the scores
(:mod:`harness.score.bootstrap`), cells read ``0.520 [0.41, 0.63]`` and a rank column
shows tie groups: teachers whose order is not stable in 95 % of replicates share a rank
(``=2``). Why: a leaderboard that orders teachers whose intervals overlap invites
readers to cite an order the data do not support. Every table says which column it is
sorted by; where that column contains an ill-conditioned PGR it says so and names the
well-conditioned sort (``--sort headroom``). Predicted rows (teachers without a trained
student, :mod:`harness.score.predict`) get a section of their own, never mixed into
the measured ranking.
"""

from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tabulate import tabulate

from harness.errors import ConfigError
from harness.naming import COSTS_FILE, INTERVALS_FILE, RANKS_FILE
from harness.score.pgscore import ScoreRow

logger = logging.getLogger(__name__)

ILL_MARK = "†"
VALUES: dict[str, str] = {
    "pg_score": "PG-Score",
    "pgr": "PGR",
    "z_score": "z (intrinsic)",
    "headroom_gain": "headroom gain",
    "student_score": "student score",
}
COST_KEYS: tuple[str, ...] = ("gpu_h", "cpu_h", "wall_h")
COST_TITLE = "GPU-hours to benchmark each teacher"
COST_NOTE = (
    "Measured hours of each teacher's own jobs (generation, collection, intrinsic metrics, "
    "its students' training and evaluation); shared base and reference evaluations excluded."
)
INTERVAL_VALUES: tuple[str, ...] = ("student_score", "pgr", "z_score", "pg_score", "headroom_gain")
RANKED_FIELDS: tuple[str, ...] = ("pg_score", "headroom_gain")  # ranks published on Hub rows
ALL_FAMILIES = "all"  # ranks.json scope of the mean over families
SORTS: dict[str, str | None] = {"value": None, "headroom": "headroom_gain"}
HEADROOM_HINT = "`polyglot-harness leaderboard --sort headroom` orders by headroom gain instead"
FOOTNOTE = (
    f"{ILL_MARK} PGR ill-conditioned: reference - base is not clearly positive, so PGR (and PG) "
    "amplify noise; compare headroom gain instead."
)


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


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _pair(obj: Mapping[str, Any], prefix: str) -> tuple[float, float] | None:
    lo, hi = obj.get(f"{prefix}_lo"), obj.get(f"{prefix}_hi")
    return (float(lo), float(hi)) if _number(lo) and _number(hi) else None


def _stale(obj: Mapping[str, Any], row: ScoreRow) -> bool:
    """Whether an intervals row was computed from other point values than ``row``'s."""
    for value in INTERVAL_VALUES:
        a, b = obj.get(value), getattr(row, value)
        if (a is None) != (b is None) or (b is not None and not _number(a)):
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


def _cell(
    values: Sequence[float | None], ill: bool, interval: tuple[float, float] | None = None
) -> str:
    kept = [v for v in values if v is not None]
    if not kept:
        return "n/a"
    bounds = f" [{interval[0]:.2f}, {interval[1]:.2f}]" if interval else ""
    return f"{np.mean(kept):.3f}{bounds}{ILL_MARK if ill else ''}"


def _check_value(value: str) -> None:
    if value not in VALUES:
        raise ConfigError(f"unknown table value {value!r}; choose one of {', '.join(VALUES)}")


def _ill_matters(value: str) -> bool:
    return value in ("pg_score", "pgr")


def _sort_key(values: Sequence[float | None]) -> float:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else -np.inf


def _rank(intervals: Intervals | None, value: str, scope: str, teacher: str) -> list[str]:
    """The rank cell (empty list without intervals: no rank column at all)."""
    if intervals is None:
        return []
    rank = intervals.teacher(value, scope, teacher)
    return [rank.label if rank else ""]


def _bounds(intervals: Intervals | None, value: str, scope: str, teacher: str):
    rank = intervals.teacher(value, scope, teacher) if intervals else None
    return rank.interval if rank else None


def family_table(
    rows: Sequence[ScoreRow],
    *,
    value: str = "pg_score",
    tablefmt: str = "github",
    intervals: Intervals | None = None,
    sort: str | None = None,
) -> str:
    """Teachers x [average, one column per language] for one student family.

    Ordered by the teacher's average of ``sort`` (default: ``value`` itself), best first;
    with ``intervals`` a rank column follows the teacher, tie groups sharing a rank.
    """
    _check_value(value)
    order_by = sort or value
    _check_value(order_by)
    languages = sorted({r.language for r in rows})
    family = rows[0].student_family if rows else ""
    cells: dict[str, dict[str, ScoreRow]] = defaultdict(dict)
    for row in rows:
        cells[row.teacher][row.language] = row
    mark = _ill_matters(value)
    body = []
    for teacher, by_lang in cells.items():
        values = [getattr(r, value) for r in by_lang.values()]
        ill = mark and any(r.pgr_ill_conditioned for r in by_lang.values())
        line = [teacher, *_rank(intervals, order_by, family, teacher)]
        line.append(_cell(values, ill, _bounds(intervals, value, family, teacher)))
        for lang in languages:
            r = by_lang.get(lang)
            line.append(
                ""
                if r is None
                else _cell(
                    [getattr(r, value)],
                    mark and r.pgr_ill_conditioned,
                    intervals.cell(r, value) if intervals else None,
                )
            )
        body.append((_sort_key([getattr(r, order_by) for r in by_lang.values()]), line))
    body.sort(key=lambda item: -item[0])
    headers = ["teacher", *(["rank"] if intervals else []), f"avg {VALUES[value]}", *languages]
    return tabulate(
        [line for _, line in body], headers=headers, tablefmt=tablefmt, disable_numparse=True
    )


def summary_table(
    rows: Sequence[ScoreRow],
    *,
    value: str = "pg_score",
    tablefmt: str = "github",
    intervals: Intervals | None = None,
    sort: str | None = None,
) -> str:
    """Teachers x [mean over families, one column per student family], best first."""
    _check_value(value)
    order_by = sort or value
    _check_value(order_by)
    families = sorted({r.student_family for r in rows})
    scope = ALL_FAMILIES if len(families) > 1 else (families[0] if families else "")
    groups: dict[str, dict[str, list[ScoreRow]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        groups[row.teacher][row.student_family].append(row)
    mark = _ill_matters(value)
    body = []
    for teacher, by_family in groups.items():
        family_means = [_sort_key([getattr(r, value) for r in rs]) for rs in by_family.values()]
        family_means = [m for m in family_means if m != -np.inf]
        ill_any = mark and any(r.pgr_ill_conditioned for rs in by_family.values() for r in rs)
        line = [teacher, *_rank(intervals, order_by, scope, teacher)]
        line.append(_cell(family_means, ill_any, _bounds(intervals, value, scope, teacher)))
        for family in families:
            rs = by_family.get(family, [])
            ill = mark and any(r.pgr_ill_conditioned for r in rs)
            bounds = _bounds(intervals, value, family, teacher)
            line.append(_cell([getattr(r, value) for r in rs], ill, bounds) if rs else "")
        order = [_sort_key([getattr(r, order_by) for r in rs]) for rs in by_family.values()]
        body.append((_sort_key([o for o in order if o != -np.inf]), line))
    body.sort(key=lambda item: -item[0])
    headers = ["teacher", *(["rank"] if intervals else []), f"mean {VALUES[value]}", *families]
    return tabulate(
        [line for _, line in body], headers=headers, tablefmt=tablefmt, disable_numparse=True
    )


def sort_note(
    rows: Sequence[ScoreRow], value: str, sort: str | None = None, *, over: str = "languages"
) -> str:
    """Which column a table is sorted by, and whether that column is ill-conditioned."""
    order_by = sort or value
    note = f"Sorted by {VALUES[order_by]} (mean over {over})."
    ill = sum(r.pgr_ill_conditioned for r in rows)
    if _ill_matters(order_by) and ill:
        note += (
            f" It contains PGR, which is ill-conditioned in {ill} of {len(rows)} rows here "
            f"({ILL_MARK}); {HEADROOM_HINT}."
        )
    return note


def _is_predicted(row: Any) -> bool:
    value = row.get("predicted") if isinstance(row, Mapping) else getattr(row, "predicted", False)
    return bool(value)


def predicted_table(
    rows: Sequence[Mapping[str, Any]], *, value: str = "pg_score", tablefmt: str = "github"
) -> str:
    """Predicted rows (``polyglot-harness predict``): (teacher, family) x language, with the
    prediction interval; "" when no row predicts ``value``."""
    bounds = {"pg_score": ("pg_lo", "pg_hi"), "pgr": ("lo", "hi")}.get(value)
    shown = [r for r in rows if bounds and r.get(value) is not None]
    if not shown:
        return ""
    languages = sorted({str(r["language"]) for r in shown})
    lines: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    for r in shown:
        lo, hi = r.get(bounds[0]), r.get(bounds[1])  # type: ignore[index]
        interval = (float(lo), float(hi)) if _number(lo) and _number(hi) else None
        lines[(str(r["teacher"]), str(r["student_family"]))][str(r["language"])] = _cell(
            [float(r[value])], False, interval
        )
    body = [[t, f, *(cells.get(lang, "") for lang in languages)] for (t, f), cells in sorted(lines.items())]  # fmt: skip
    headers = ["teacher (predicted)", "student family", *languages]
    return tabulate(body, headers=headers, tablefmt=tablefmt, disable_numparse=True)


def leaderboard(
    rows: Sequence[ScoreRow],
    *,
    tablefmt: str = "github",
    values: Sequence[str] = ("pg_score", "headroom_gain"),
    intervals: Intervals | None = None,
    sort: str | None = None,
    predicted: Sequence[Mapping[str, Any]] = (),
) -> str:
    """The whole leaderboard: a summary per value, then one table per family and value.

    Args:
        rows: measured score rows (a row flagged ``predicted`` joins ``predicted``).
        tablefmt: ``github`` gives markdown headings; others plain underlined titles.
        values: the columns to tabulate (keys of :data:`VALUES`).
        intervals: the bootstrap's intervals and ranks (:func:`read_intervals`).
        sort: a key of :data:`SORTS`: ``value`` (default: each table by its own value)
            or ``headroom`` (every table by headroom gain, the well-conditioned score).
        predicted: predicted rows, shown in a section of their own, never ranked.
    """
    for value in values:  # before any table: a typo is one line, not a KeyError
        _check_value(value)
    if (sort or "value") not in SORTS:
        raise ConfigError(f"unknown sort {sort!r}; choose one of {', '.join(SORTS)}")
    order_by = SORTS[sort or "value"]
    predicted = [*predicted, *(r for r in rows if _is_predicted(r))]  # type: ignore[misc]
    rows = [r for r in rows if not _is_predicted(r)]
    markdown = tablefmt == "github"

    def heading(text: str, level: int) -> str:
        return f"{'#' * level} {text}" if markdown else f"{text}\n{'=' * len(text)}"

    families = sorted({r.student_family for r in rows})
    parts = [heading("Polyglot leaderboard", 1)]
    protocols = sorted({p for r in rows if (p := getattr(r, "protocol", None))})
    if protocols:
        mixed = " (not comparable with each other)" if len(protocols) > 1 else ""
        parts.append(f"Protocol: {', '.join(f'`{p}`' for p in protocols)}{mixed}.")
    for value in values if rows else ():
        parts += [
            heading(f"{VALUES[value]} by teacher and student family", 2),
            summary_table(rows, value=value, tablefmt=tablefmt, intervals=intervals, sort=order_by),
            sort_note(rows, value, order_by, over="student families" if len(families) > 1 else "languages"),
        ]  # fmt: skip
    for family in families:
        family_rows = [r for r in rows if r.student_family == family]
        for value in values:
            parts += [
                heading(f"{family}: {VALUES[value]}", 3),
                family_table(family_rows, value=value, tablefmt=tablefmt, intervals=intervals,
                             sort=order_by),
                sort_note(family_rows, value, order_by),
            ]  # fmt: skip
    if any(r.pgr_ill_conditioned for r in rows):
        ill = sum(r.pgr_ill_conditioned for r in rows)
        parts.append(f"{FOOTNOTE} ({ill} of {len(rows)} rows.)")
    if intervals is not None:
        level = f"{intervals.level:.0%}" if intervals.level else "95%"
        parts.append(
            f"[lo, hi]: {level} bootstrap percentile interval over {intervals.replicates} "
            "replicates (evaluation items, data rows and seeds resampled). Teachers sharing "
            f"a rank (=k) are not ordered apart in {level} of the replicates."
        )
    tables = {v: predicted_table(predicted, value=v, tablefmt=tablefmt) for v in values}
    if any(tables.values()):
        parts += [heading("Predicted scores (teachers without a trained student)", 2)]
        for value, table in tables.items():
            parts += [heading(f"Predicted {VALUES[value]}", 3), table] if table else []
        parts.append(
            "Predicted from intrinsic metrics by `polyglot-harness predict`, with prediction "
            "intervals: not measured, so not ranked with the teachers above."
        )
    return "\n\n".join(parts) + "\n"


def read_predicted(scores_path: str | Path) -> list[dict[str, Any]]:
    """The predicted rows beside ``scores.jsonl`` (``predicted.jsonl``), [] without them."""
    from harness.files import read_jsonl
    from harness.score.predict import PREDICTED_FILE

    path = Path(scores_path)
    file = (path if path.is_dir() else path.parent) / PREDICTED_FILE
    return [obj for _, obj in read_jsonl(file)] if file.is_file() else []


def _hours(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def cost_table(hours: Mapping[str, Mapping[str, float | None]], *, tablefmt: str = "github") -> str:
    """ "GPU-hours to benchmark this teacher": each teacher's own measured jobs.

    Shared work (base and reference evaluations) is not in any teacher's figure: it is
    paid once per grid, whoever is benchmarked. A figure missing from ``hours`` (rows
    published without it) is a blank cell, not a zero: nothing was measured.
    """
    if not hours:
        return ""
    body = [
        [teacher, *(_hours(h.get(k)) for k in COST_KEYS)]
        for teacher, h in sorted(
            hours.items(), key=lambda item: (item[1].get("gpu_h") or 0.0, item[0])
        )
    ]
    table = tabulate(
        body, headers=["teacher", "GPU-hours", "CPU-hours", "wall hours"], tablefmt=tablefmt,
        disable_numparse=True,
    )  # fmt: skip
    title = f"## {COST_TITLE}" if tablefmt == "github" else f"{COST_TITLE}\n{'=' * len(COST_TITLE)}"
    return f"{title}\n\n{table}\n\n{COST_NOTE}"


def _cost_entry(teacher: Any, entry: Any, source: Path) -> dict[str, float]:
    """One teacher's hours, checked: a wrong figure here would be published as a measurement."""
    if not isinstance(teacher, str) or not teacher or not isinstance(entry, Mapping):
        raise ConfigError(
            f"{source}: expected {{teacher: {{{', '.join(COST_KEYS)}}}}}, got {teacher!r}: {entry!r}"
        )
    hours = {}
    for key in COST_KEYS:
        value = entry.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(
                f"{source}: {teacher}: {key} must be a number of hours, got {value!r}"
            )
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"{source}: {teacher}: {key} must be finite and >= 0, got {value!r}")
        hours[key] = float(value)
    return hours


def read_costs(scores_path: str | Path) -> dict[str, dict[str, float]] | None:
    """The measured hours per teacher in ``costs.json`` beside ``scores.jsonl``, if any.

    Why validated here: the figures go into tables and onto the Hub as "GPU-hours to
    benchmark this teacher", so a hand-edited or truncated file must stop the command
    with its name rather than publish NaN or negative hours.

    Args:
        scores_path: ``scores.jsonl`` or the folder holding it.

    Returns:
        ``{teacher: {"gpu_h", "cpu_h", "wall_h"}}``, or ``None`` when there is no
        ``costs.json`` (a run scored outside the grid).

    Raises:
        ConfigError: the file is not JSON of that shape, or an hour figure is not a
            finite, non-negative number; the message names the file.
    """
    path = Path(scores_path)
    source = (path if path.is_dir() else path.parent) / COSTS_FILE
    if not source.is_file():
        return None
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{source}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: expected a JSON object of teachers, got {type(data).__name__}"
        )
    return {teacher: _cost_entry(teacher, entry, source) for teacher, entry in data.items()}
