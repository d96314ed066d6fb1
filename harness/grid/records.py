"""The grid's only state: append-only records and per-job stamps, all on disk.

The driver keeps nothing in memory that it cannot rebuild: ``jobs.jsonl`` says what was
submitted, started, finished or failed (each job writes its own start and end), and
``costs.jsonl`` one record per finished job. A job's stamp (``.grid/done/<job>.json``)
holds the fingerprint its outputs were made from. So a killed driver loses nothing, and
``status`` or a rerun reads the same files.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.files import append_jsonl, atomic_write_text, read_records
from harness.grid.graph import Job
from harness.naming import COSTS_LOG

JOBS_LOG = "jobs.jsonl"
STATE_DIR = ".grid"


@dataclass(frozen=True)
class GridPaths:
    """Where a grid's records live, from its output folder."""

    root: Path

    @property
    def jobs_log(self) -> Path:
        return self.root / JOBS_LOG

    @property
    def costs_log(self) -> Path:
        return self.root / COSTS_LOG

    def job_file(self, job: Job) -> Path:
        return self.root / STATE_DIR / "jobs" / f"{job.file_name}.json"

    def stamp(self, job: Job) -> Path:
        return self.root / STATE_DIR / "done" / f"{job.file_name}.json"

    def lock(self, job: Job) -> Path:
        return self.root / STATE_DIR / "locks" / f"{job.file_name}.lock"

    def log(self, job: Job) -> Path:
        return self.root / "logs" / f"{job.file_name}.log"


def record(paths: GridPaths, job: Job, status: str, **fields: Any) -> None:
    """Append one status line for ``job`` to ``jobs.jsonl``."""
    append_jsonl(
        paths.jobs_log,
        {"key": job.key, "status": status, "fingerprint": job.fingerprint,
         "time": round(time.time(), 3), **fields},
    )  # fmt: skip


def is_done(paths: GridPaths, job: Job) -> bool:
    """Outputs exist and were made from the job's current fingerprint."""
    stamp = paths.stamp(job)
    try:
        made_from = json.loads(stamp.read_text(encoding="utf-8")).get("fingerprint")
    except (OSError, ValueError):
        return False
    return made_from == job.fingerprint and all(Path(p).exists() for p in job.outputs)


def stale_stamp(paths: GridPaths, job: Job) -> bool:
    """A stamp from other settings exists: the outputs on disk must be remade, not reused."""
    try:
        made_from = json.loads(paths.stamp(job).read_text(encoding="utf-8")).get("fingerprint")
    except (OSError, ValueError):
        return False
    return made_from != job.fingerprint


def write_stamp(paths: GridPaths, job: Job, **fields: Any) -> None:
    atomic_write_text(
        paths.stamp(job),
        json.dumps({"key": job.key, "fingerprint": job.fingerprint, "time": time.time(), **fields}),
    )


def job_history(paths: GridPaths) -> dict[str, list[dict[str, Any]]]:
    """Every record of ``jobs.jsonl``, by job key, oldest first."""
    history: dict[str, list[dict[str, Any]]] = {}
    for rec in read_records(paths.jobs_log):
        if isinstance(rec.get("key"), str):
            history.setdefault(rec["key"], []).append(rec)
    return history


def cost_records(paths: GridPaths) -> list[dict[str, Any]]:
    return read_records(paths.costs_log)
