"""``run``: compile, drop what is done, submit what is ready, wait, repeat.

The driver holds no state it cannot rebuild from disk (:mod:`harness.grid.records`), so
killing it at any moment loses nothing: rerunning ``run`` compiles the same graph, finds
finished jobs by their stamps, and submits the rest. A failed job is retried up to
``retries`` times, then reported with its log; the jobs that need it are skipped and
reported, and every independent branch goes on and is scored.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from harness.files import atomic_write_text
from harness.grid.executors import Handle, Submission, get_executor
from harness.grid.graph import Job, compile_grid
from harness.grid.records import GridPaths, is_done, job_history, record
from harness.grid.spec import GridSpec

logger = logging.getLogger(__name__)


@dataclass
class GridReport:
    """How a ``run`` ended: job keys by outcome, and where the failures' logs are."""

    done: list[str] = field(default_factory=list)
    skipped_done: list[str] = field(default_factory=list)  # already done before this run
    failed: dict[str, str] = field(default_factory=dict)  # key -> log path
    blocked: dict[str, str] = field(default_factory=dict)  # key -> the failed job it needs
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed and not self.blocked


def _submission(job: Job, paths: GridPaths, attempt: int) -> Submission:
    return Submission(
        key=job.key,
        command=(
            sys.executable,
            "-m",
            "harness.grid.worker",
            str(paths.job_file(job)),
            str(attempt),
        ),
        log_path=paths.log(job),
        resources=job.resources,
        env=thread_env(job.resources.cpus),
    )


def thread_env(cpus: int) -> dict[str, str]:
    """Math-library threads = the CPUs the job asked for.

    torch and BLAS otherwise start one thread per core of the node in *every* job, and
    jobs sharing a machine then slow each other down many times over.
    """
    n = str(max(1, cpus))
    return {name: n for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}


def write_job_files(jobs: list[Job], paths: GridPaths) -> None:
    """Each job as a JSON file the worker reads (rewritten on every run: settings may change)."""
    for job in jobs:
        data = {"root": str(paths.root), "job": job.to_json()}
        atomic_write_text(paths.job_file(job), json.dumps(data, indent=1, default=str))


class _Run:
    """One pass of the driver loop over a compiled graph."""

    def __init__(self, spec: GridSpec, jobs: list[Job], *, poll_interval: float) -> None:
        self.spec = spec
        self.paths = GridPaths(spec.out.resolve())
        self.jobs = {j.key: j for j in jobs}
        self.order = [j.key for j in jobs]
        self.poll_interval = poll_interval
        self.report = GridReport()
        self.state: dict[str, str] = {}  # key -> pending | running | done | failed | blocked
        self.attempts: Counter[str] = Counter()
        self.handles: dict[str, Handle] = {}
        self.executor = get_executor(spec.executor, spec.executor_options)

    def _submit(self, job: Job) -> None:
        after = [self.handles[d] for d in job.deps if self.state.get(d) == "running"]
        self.attempts[job.key] += 1
        attempt = self.attempts[job.key]
        handle = self.executor.submit(_submission(job, self.paths, attempt), after=after)
        self.handles[job.key] = handle
        self.state[job.key] = "running"
        record(self.paths, job, "submitted", attempt=attempt, executor=self.executor.name,
               executor_id=handle.executor_id, log=str(handle.log_path))  # fmt: skip
        logger.info("submitted %s (attempt %d)", job.key, attempt)

    def _ready(self, job: Job) -> bool:
        deps_ok = all(self.state[d] == "done" for d in job.deps)
        if not deps_ok and self.executor.supports_dependencies:
            deps_ok = all(self.state[d] in ("done", "running") for d in job.deps)
        soft_ok = all(self.state[d] in ("done", "failed", "blocked") for d in job.soft_deps)
        return deps_ok and soft_ok

    def _block(self) -> None:
        """Pending jobs that need a job that failed for good can never run."""
        changed = True
        while changed:
            changed = False
            for key in self.order:
                if self.state[key] != "pending":
                    continue
                bad = next((d for d in self.jobs[key].deps
                            if self.state[d] in ("failed", "blocked")), None)  # fmt: skip
                if bad:
                    self.state[key] = "blocked"
                    root = self.report.blocked.get(bad, bad)
                    self.report.blocked[key] = root
                    record(self.paths, self.jobs[key], "blocked", needs=root)
                    changed = True

    def _finished(self, key: str, engine_state: str) -> None:
        job = self.jobs[key]
        if engine_state == "finished" and is_done(self.paths, job):
            self.state[key] = "done"
            self.report.done.append(key)
            logger.info("done: %s", key)
            return
        if any(self.state[d] != "done" for d in job.deps):
            self.state[key] = "pending"  # the engine dropped it with a failed dependency
            self.attempts[key] -= 1
            return
        if self.attempts[key] <= self.spec.retries:
            logger.warning("%s failed (attempt %d); retrying. Log: %s",
                           key, self.attempts[key], self.handles[key].log_path)  # fmt: skip
            self._submit(job)
            return
        self.state[key] = "failed"
        self.report.failed[key] = str(self.handles[key].log_path)
        logger.error("%s failed after %d attempts; log: %s", key, self.attempts[key],
                     self.handles[key].log_path)  # fmt: skip

    def loop(self) -> GridReport:
        start = time.perf_counter()
        for key in self.order:
            done = is_done(self.paths, self.jobs[key])
            self.state[key] = "done" if done else "pending"
            if done:
                self.report.skipped_done.append(key)
        try:
            while True:
                self._block()
                for key in self.order:
                    if self.state[key] == "pending" and self._ready(self.jobs[key]):
                        self._submit(self.jobs[key])
                running = [self.handles[k] for k in self.order if self.state[k] == "running"]
                if not running:
                    break
                for key, engine_state in self.executor.poll(running).items():
                    if engine_state != "running" and self.state[key] == "running":
                        self._finished(key, engine_state)
                if all(self.state[k] != "pending" for k in self.order) and not any(
                    self.state[k] == "running" for k in self.order
                ):
                    break
                time.sleep(self.poll_interval)
        except KeyboardInterrupt:
            if self.executor.name == "local":
                for key in self.order:
                    if self.state[key] == "running":
                        self.executor.cancel(self.handles[key])
            raise
        finally:
            self.executor.close()
        self.report.seconds = time.perf_counter() - start
        return self.report


def run_grid(spec: GridSpec, *, poll_interval: float = 0.2) -> GridReport:
    """Run (or continue) the grid until every job is done, failed, or blocked by a failure."""
    jobs = compile_grid(spec)
    paths = GridPaths(spec.out.resolve())
    if paths.root.exists() and not paths.root.is_dir():
        from harness.errors import ConfigError

        raise ConfigError(
            f"grid output {paths.root} exists and is not a folder; choose another 'out'"
        )
    paths.root.mkdir(parents=True, exist_ok=True)
    write_job_files(jobs, paths)
    return _Run(spec, jobs, poll_interval=poll_interval).loop()


@dataclass(frozen=True)
class JobStatus:
    key: str
    stage: str
    state: str  # done | running | queued | interrupted | failed | blocked | pending
    attempts: int
    log: str | None
    error: str | None = None


def _alive(started: dict) -> bool:
    """Whether a started job's process still runs (only knowable on its own host)."""
    import os
    import socket

    if started.get("host") != socket.gethostname() or not isinstance(started.get("pid"), int):
        return True  # another node's job: its engine knows; the record says it started
    try:
        os.kill(started["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def grid_status(spec: GridSpec) -> list[JobStatus]:
    """Each job's state from the stamps and ``jobs.jsonl``: no driver needs to be alive."""
    paths = GridPaths(spec.out.resolve())
    history = job_history(paths)
    out = []
    for job in compile_grid(spec):
        recs = [r for r in history.get(job.key, []) if r.get("fingerprint") == job.fingerprint]
        attempts = sum(r["status"] == "started" for r in recs)
        last = recs[-1] if recs else {}
        log = str(paths.log(job)) if paths.log(job).exists() else None
        if is_done(paths, job):
            state = "done"
        elif last.get("status") == "started":
            state = "running" if _alive(last) else "interrupted"
        elif last.get("status") == "submitted":
            state = "queued"  # handed to the executor; the job has not started yet
        elif last.get("status") in ("failed", "blocked"):
            state = last["status"]
        else:
            state = "pending"
        out.append(JobStatus(job.key, job.stage, state, attempts, log, last.get("error")))
    return out


def format_status(statuses: list[JobStatus]) -> str:
    """Counts per stage and state, then one line per job that is not done."""
    from tabulate import tabulate

    states = ("done", "running", "queued", "interrupted", "failed", "blocked", "pending")
    stages = list(dict.fromkeys(s.stage for s in statuses))
    counts = Counter((s.stage, s.state) for s in statuses)
    table = tabulate(
        [[stage, *(counts[(stage, st)] or "" for st in states)] for stage in stages],
        headers=["stage", *states], tablefmt="simple", disable_numparse=True,
    )  # fmt: skip
    lines = [table]
    for s in statuses:
        if s.state != "done":
            extra = f"  {s.error}" if s.error else ""
            lines.append(f"{s.state:8} {s.key}  log: {s.log or '-'}{extra}")
    return "\n".join(lines)


def format_dry_run(spec: GridSpec, *, costs_from: list[Path] | None = None) -> str:
    """The graph: jobs per stage, GPUs each, what is done, estimated hours from records.

    Estimates use this grid's own ``costs.jsonl`` plus those of ``costs_from`` (other
    grid folders), so a new grid can be priced from an earlier one.
    """
    from tabulate import tabulate

    from harness.grid.costs import estimate
    from harness.grid.records import cost_records

    jobs = compile_grid(spec)
    paths = GridPaths(spec.out.resolve())
    todo = [j for j in jobs if not is_done(paths, j)]
    recorded = [r for root in (costs_from or []) for r in cost_records(GridPaths(Path(root)))]
    est = estimate(todo, recorded + cost_records(paths))
    total = Counter(j.stage for j in jobs)
    body = []
    for stage in dict.fromkeys(j.stage for j in jobs):
        cell = est.get(stage)
        known = cell is not None and cell["estimated"]
        body.append([
            stage, total[stage], total[stage] - (cell["jobs"] if cell else 0),
            cell["jobs"] if cell else 0, spec.resources_for(stage).gpus,
            f"{cell['gpu_h']:.3f}" if known else ("0" if cell is None else "unknown"),
            f"{cell['wall_h']:.3f}" if known else ("0" if cell is None else "unknown"),
        ])  # fmt: skip
    head = (f"grid {spec.name!r}: {len(spec.teachers)} teachers x {len(spec.languages)} "
            f"languages x {len(spec.students)} student families -> {len(jobs)} jobs, "
            f"executor {spec.executor}, output {spec.out}")  # fmt: skip
    table = tabulate(
        body, headers=["stage", "jobs", "done", "to run", "GPUs/job", "est. GPU-h", "est. wall-h"],
        tablefmt="simple", disable_numparse=True,
    )  # fmt: skip
    note = ("estimates: mean recorded cost of the same stage (same teacher where recorded); "
            "'unknown' where nothing of that stage has run yet")  # fmt: skip
    return f"{head}\n{table}\n{note}"
