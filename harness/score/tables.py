"""Leaderboard tables: per student family (teacher x language) and across families.

Rendered with tabulate, so one function serves the terminal (``tablefmt="simple"``)
and the README / Hub card (``"github"``). Cells whose PGR comes from an ill-conditioned
gap carry a dagger: the number is the paper's formula, but readers must see it is noise
amplified by a near-zero denominator.

With the bootstrap's ``intervals.jsonl`` and ``ranks.json`` beside the scores
(:mod:`harness.score.bootstrap` writes them, :mod:`harness.score.intervals` reads them),
cells read ``0.520 [0.41, 0.63]`` and a rank column shows tie groups: teachers whose
order is not stable in 95 % of replicates share a rank (``=2``). Why: a leaderboard that orders teachers whose intervals overlap invites
readers to cite an order the data do not support. Every table says which column it is
sorted by; where that column contains an ill-conditioned PGR it says so and names the
well-conditioned sort (``--sort headroom``). Predicted rows (teachers without a trained
student, :mod:`harness.score.predict`) get a section of their own, never mixed into
the measured ranking. The GPU-hours table is :mod:`harness.score.costs`'s.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tabulate import tabulate

from harness.errors import ConfigError
from harness.naming import ALL_FAMILIES
from harness.score.intervals import Intervals, is_finite_number
from harness.score.pgscore import ScoreRow

ILL_MARK = "†"


VALUES: dict[str, str] = {
    "pg_score": "PG-Score",
    "pgr": "PGR",
    "z_score": "z (intrinsic)",
    "headroom_gain": "headroom gain",
    "student_score": "student score",
}


SORTS: dict[str, str | None] = {"value": None, "headroom": "headroom_gain"}


HEADROOM_HINT = "`polyglot-harness leaderboard --sort headroom` orders by headroom gain instead"


FOOTNOTE = (
    f"{ILL_MARK} PGR ill-conditioned: reference - base is not clearly positive, so PGR (and PG) "
    "amplify noise; compare headroom gain instead."
)


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
        interval = (float(lo), float(hi)) if is_finite_number(lo) and is_finite_number(hi) else None
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
