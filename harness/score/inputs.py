"""Readers of the score stage's inputs: extrinsic rows and intrinsic summaries.

Why: the scorer is pointed at a path that may hold long-format JSONL, lm-eval output
folders (read by :mod:`harness.score.lm_eval_results`) or the intrinsic stage's summary;
these readers find every input under it and return :mod:`harness.score.rows` rows, so
the scorer only ever sees :class:`~harness.score.rows.ExtrinsicRow` and
:class:`~harness.score.rows.IntrinsicRow`.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, EmptyDataError, InputNotFoundError
from harness.files import read_jsonl
from harness.naming import RESULTS_GLOB, RUN_RECORD, SUMMARY_FILE, samples_glob
from harness.score.lm_eval_results import (
    UnknownTask,
    lm_eval_protocol,
    read_lm_eval_results,
    results_identity,
)
from harness.score.rows import (
    ExtrinsicRow,
    IntrinsicRow,
    extrinsic_row_from_dict,
    intrinsic_row_from_dict,
    protocol_name,
)

INTRINSIC_SUMMARY = SUMMARY_FILE


def _lm_eval_identity(folder: Path) -> dict[str, Any]:
    """:func:`results_identity`, or a one-line error saying how to record one."""
    identity = results_identity(folder)
    if identity is None:
        raise ConfigError(
            f"{folder}: cannot tell whose lm-eval results these are; write a {RUN_RECORD} "
            'with {"role": "base"|"reference"|"student", "student_family": ..., "teacher": '
            '..., "target_language": ...} next to the results'
        )
    return identity


def read_extrinsic(
    path: str | Path, *, unknown: list[UnknownTask] | None = None
) -> list[ExtrinsicRow]:
    """Read every extrinsic input under ``path``.

    ``path`` may be a long-format ``.jsonl`` file, an lm-eval model folder, or a folder
    holding any mix of ``.jsonl`` files and lm-eval output folders (searched recursively).
    lm-eval results of tasks no benchmark record claims are appended to ``unknown`` (and
    logged), so the score report can name them.

    Raises:
        InputNotFoundError: ``path`` does not exist.
        EmptyDataError: nothing under ``path`` yields a row.
    """
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"extrinsic input {path} does not exist")
    rows: list[ExtrinsicRow] = []
    if path.is_file() and path.suffix == ".jsonl":
        rows = [extrinsic_row_from_dict(obj, source=where) for where, obj in read_jsonl(path)]
    elif path.is_file():
        raise ConfigError(f"{path}: expected a .jsonl file or a folder")
    else:
        folders = sorted({f.parent for f in path.rglob(RESULTS_GLOB)})
        for file in sorted(path.rglob("*.jsonl")):
            # lm-eval's --log_samples files sit next to its results: not our rows.
            if file.parent in folders or fnmatch.fnmatchcase(file.name, samples_glob()):
                continue
            rows += [extrinsic_row_from_dict(obj, source=where) for where, obj in read_jsonl(file)]
        for folder in folders:
            meta = _lm_eval_identity(folder)
            record, where = lm_eval_protocol(folder)
            protocol = protocol_name(record, where=str(where))
            rows += read_lm_eval_results(folder, **meta, protocol=protocol, unknown=unknown)
    if not rows:
        raise EmptyDataError(
            f"no extrinsic rows under {path}: expected *.jsonl or lm-eval results_*.json"
        )
    return rows


def read_intrinsic(path: str | Path) -> list[IntrinsicRow]:
    """Read intrinsic metrics: ``metrics/summary.jsonl`` (the intrinsic stage's output),
    a folder of ``.jsonl`` files, or one ``.jsonl`` file.

    Raises:
        InputNotFoundError: ``path`` does not exist.
        EmptyDataError: no rows found.
    """
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"intrinsic input {path} does not exist")
    if path.is_dir():
        summary = path / INTRINSIC_SUMMARY
        files = [summary] if summary.is_file() else sorted(path.glob("*.jsonl"))
    else:
        files = [path]
    rows = [
        intrinsic_row_from_dict(obj, source=where) for f in files for where, obj in read_jsonl(f)
    ]
    if not rows:
        raise EmptyDataError(f"no intrinsic rows under {path}: expected {INTRINSIC_SUMMARY}")
    return rows
