"""GPU-hours to benchmark each teacher: ``costs.json`` read and checked, and its table.

Why a module of its own: the figures are published (leaderboard, Hub card) as
measurements, so the file is validated where it is read, and one table renders them for
the terminal, the README and the card alike.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tabulate import tabulate

from harness.errors import ConfigError
from harness.naming import COSTS_FILE

COST_KEYS: tuple[str, ...] = ("gpu_h", "cpu_h", "wall_h")


COST_TITLE = "GPU-hours to benchmark each teacher"


COST_NOTE = (
    "Measured hours of each teacher's own jobs (generation, collection, intrinsic metrics, "
    "its students' training and evaluation); shared base and reference evaluations excluded."
)


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
