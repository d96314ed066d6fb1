"""Collect every polyglot run under a folder into one dataset per (teacher, language).

The stage's entry point: it settles the protocol (:mod:`harness.collect.results`), reads
the rows of the runs in order so later runs replace earlier rows of the same key
(:mod:`harness.collect.samples`), merges into and writes each dataset
(:mod:`harness.collect.dataset`), and reports every sample that did not become its own
row.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from harness.collect.dataset import merge_with_existing, row_key, write_dataset
from harness.collect.results import choose_protocol, find_runs, run_caps
from harness.collect.samples import iter_rows
from harness.errors import EmptyDataError
from harness.naming import dataset_dir
from harness.protocol import Protocol, resolve
from harness.schema import DATA_FILE, SFTRow

logger = logging.getLogger(__name__)


def _report(counts: Counter[str], n_rows: int) -> None:
    """One warning with the count of every sample that did not become its own row."""
    losses = {
        "samples had no seed_id (keyed by task and doc_id instead)": counts["no_seed_id"],
        "samples shared a seed_id within a run (kept as <seed_id>~doc<doc_id>)": counts[
            "duplicate_seed_ids"
        ],
        "samples were replaced by a later run's sample of the same (strategy, seed_id)": counts[
            "superseded"
        ],
        "incomplete last lines were skipped": counts["partial_lines"],
    }
    found = [f"{n} {what}" for what, n in losses.items() if n]
    if found:
        logger.warning(
            "collect: %d samples read, %d rows written; %s",
            counts["samples"], n_rows, "; ".join(found),
        )  # fmt: skip


def collect(
    runs_dir: str | Path,
    out_dir: str | Path,
    *,
    teacher: str | None = None,
    overwrite: bool = False,
    protocol: str | Protocol | None = None,
) -> dict[tuple[str, str], Path]:
    """Collect every polyglot run under ``runs_dir`` into datasets under ``out_dir``.

    Args:
        runs_dir: lm-eval ``--output_path`` (or any folder above it).
        out_dir: where ``<teacher_slug>/<lang>/data.parquet`` files go.
        teacher: name to record instead of the model id lm-eval logged (e.g. the
            registry name, or to keep an API model's name stable across versions).
        overwrite: replace a dataset already in ``out_dir``; by default it is merged
            with (collected rows replace its rows of the same key, the rest are kept)
            so finished data is never replaced by less.
        protocol: which checks decide ``valid`` (``paper``: parses and non-empty;
            ``corrected`` adds the refusal and language checks). Default: the protocol
            the generation runs recorded, else ``paper``.

    Returns:
        ``(teacher, language) -> parquet path`` for every dataset written.

    Raises:
        InputNotFoundError / EmptyDataError: no runs to collect.
        ConfigError: a corrupt samples file (named by file:line), runs recording
            different protocols with no ``protocol`` given, or an existing dataset that
            cannot be merged with (unreadable, or of another protocol).
    """
    if protocol is not None:
        protocol = resolve(protocol)  # a typo fails before any file is read
    runs = find_runs(runs_dir)
    if not runs:
        raise EmptyDataError(
            f"no lm-eval results of polyglot_* tasks under {runs_dir}; run lm_eval with "
            "--tasks 'polyglot_*' --log_samples --output_path <dir> first"
        )
    record = choose_protocol(runs, protocol)
    logger.info("collecting under protocol %s", record["name"])
    counts: Counter[str] = Counter()
    grouped: dict[tuple[str, str], dict[tuple[str, str], SFTRow]] = defaultdict(dict)
    caps: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for run in sorted(runs, key=lambda r: r.run_id):  # later runs replace earlier rows
        for row in iter_rows(run, teacher, counts, record["name"]):
            group = grouped[(row["teacher"], row["language"])]
            counts["superseded"] += row_key(row) in group
            group[row_key(row)] = row
        for cap in run_caps(run):
            name = teacher or run.teacher
            if cap not in caps[(name, cap["language"])]:
                caps[(name, cap["language"])].append(cap)
    written: dict[tuple[str, str], Path] = {}
    for (name, language), rows in sorted(grouped.items()):
        path = dataset_dir(out_dir, name, language) / DATA_FILE
        found = caps.get((name, language), [])
        for cap in found:
            logger.warning(
                "%s %s: %s asked for %d documents but the seed pool (%s) held only %d; "
                "the dataset card will say so",
                name, language, cap["strategy"], cap["requested"], cap["seeds"], cap["available"],
            )  # fmt: skip
        if path.is_file() and not overwrite:
            merged, found = merge_with_existing(path, rows, found, record)
        else:
            merged = [dict(r) for r in rows.values()]
        write_dataset(path, merged, found, record)
        written[(name, language)] = path
    _report(counts, sum(len(rows) for rows in grouped.values()))
    return written
