"""Leaderboard tables: per student family (teacher x language) and across families.

Rendered with tabulate, so one function serves the terminal (``tablefmt="simple"``)
and the README / Hub card (``"github"``). Cells whose PGR comes from an ill-conditioned
gap carry a dagger: the number is the paper's formula, but readers must see it is noise
amplified by a near-zero denominator.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tabulate import tabulate

from harness.errors import ConfigError
from harness.score.pgscore import ScoreRow

ILL_MARK = "†"
VALUES: dict[str, str] = {
    "pg_score": "PG-Score",
    "pgr": "PGR",
    "z_score": "z (intrinsic)",
    "headroom_gain": "headroom gain",
    "student_score": "student score",
}
COSTS_FILE = "costs.json"  # written by the grid's leaderboard job beside scores.jsonl
COST_KEYS: tuple[str, ...] = ("gpu_h", "cpu_h", "wall_h")
COST_TITLE = "GPU-hours to benchmark each teacher"
COST_NOTE = (
    "Measured hours of each teacher's own jobs (generation, collection, intrinsic metrics, "
    "its students' training and evaluation); shared base and reference evaluations excluded."
)
FOOTNOTE = (
    f"{ILL_MARK} PGR ill-conditioned: reference - base is not clearly positive, so PGR (and PG) "
    "amplify noise; compare headroom gain instead."
)


def _cell(values: Sequence[float | None], ill: bool) -> str:
    kept = [v for v in values if v is not None]
    if not kept:
        return "n/a"
    return f"{np.mean(kept):.3f}{ILL_MARK if ill else ''}"


def _check_value(value: str) -> None:
    if value not in VALUES:
        raise ConfigError(f"unknown table value {value!r}; choose one of {', '.join(VALUES)}")


def _ill_matters(value: str) -> bool:
    return value in ("pg_score", "pgr")


def family_table(
    rows: Sequence[ScoreRow], *, value: str = "pg_score", tablefmt: str = "github"
) -> str:
    """Teachers (best first) x [average, one column per language] for one student family."""
    _check_value(value)
    languages = sorted({r.language for r in rows})
    cells: dict[str, dict[str, ScoreRow]] = defaultdict(dict)
    for row in rows:
        cells[row.teacher][row.language] = row
    mark = _ill_matters(value)
    body = []
    for teacher, by_lang in cells.items():
        values = [getattr(r, value) for r in by_lang.values()]
        ill = mark and any(r.pgr_ill_conditioned for r in by_lang.values())
        avg = (
            np.mean([v for v in values if v is not None])
            if any(v is not None for v in values)
            else -np.inf
        )
        line = [teacher, _cell(values, ill)]
        for lang in languages:
            r = by_lang.get(lang)
            line.append(
                "" if r is None else _cell([getattr(r, value)], mark and r.pgr_ill_conditioned)
            )
        body.append((avg, line))
    body.sort(key=lambda item: -item[0])
    headers = ["teacher", f"avg {VALUES[value]}", *languages]
    return tabulate(
        [line for _, line in body], headers=headers, tablefmt=tablefmt, disable_numparse=True
    )


def summary_table(
    rows: Sequence[ScoreRow], *, value: str = "pg_score", tablefmt: str = "github"
) -> str:
    """Teachers (best first) x [mean over families, one column per student family]."""
    _check_value(value)
    families = sorted({r.student_family for r in rows})
    groups: dict[str, dict[str, list[ScoreRow]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        groups[row.teacher][row.student_family].append(row)
    mark = _ill_matters(value)
    body = []
    for teacher, by_family in groups.items():
        per_family = {f: [getattr(r, value) for r in rs] for f, rs in by_family.items()}
        family_means = [
            np.mean([v for v in vs if v is not None])
            for vs in per_family.values()
            if any(v is not None for v in vs)
        ]
        ill_any = mark and any(r.pgr_ill_conditioned for rs in by_family.values() for r in rs)
        line = [teacher, _cell(family_means, ill_any)]
        for family in families:
            rs = by_family.get(family, [])
            line.append(
                _cell(
                    [getattr(r, value) for r in rs], mark and any(r.pgr_ill_conditioned for r in rs)
                )
                if rs
                else ""
            )
        body.append((float(np.mean(family_means)) if family_means else -np.inf, line))
    body.sort(key=lambda item: -item[0])
    headers = ["teacher", f"mean {VALUES[value]}", *families]
    return tabulate(
        [line for _, line in body], headers=headers, tablefmt=tablefmt, disable_numparse=True
    )


def leaderboard(
    rows: Sequence[ScoreRow],
    *,
    tablefmt: str = "github",
    values: Sequence[str] = ("pg_score", "headroom_gain"),
) -> str:
    """The whole leaderboard: a summary per value, then one table per family and value.

    With ``tablefmt="github"`` headings are markdown; otherwise plain underlined titles.
    """
    for value in values:  # before any table: a typo is one line, not a KeyError
        _check_value(value)
    markdown = tablefmt == "github"

    def heading(text: str, level: int) -> str:
        return f"{'#' * level} {text}" if markdown else f"{text}\n{'=' * len(text)}"

    families = sorted({r.student_family for r in rows})
    parts = [heading("Polyglot leaderboard", 1)]
    for value in values:
        parts += [
            heading(f"{VALUES[value]} by teacher and student family", 2),
            summary_table(rows, value=value, tablefmt=tablefmt),
        ]
    for family in families:
        family_rows = [r for r in rows if r.student_family == family]
        for value in values:
            parts += [
                heading(f"{family}: {VALUES[value]}", 3),
                family_table(family_rows, value=value, tablefmt=tablefmt),
            ]
    if any(r.pgr_ill_conditioned for r in rows):
        ill = sum(r.pgr_ill_conditioned for r in rows)
        parts.append(f"{FOOTNOTE} ({ill} of {len(rows)} rows.)")
    return "\n\n".join(parts) + "\n"


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
