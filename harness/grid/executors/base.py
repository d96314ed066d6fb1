"""The one protocol every executor speaks, and nothing about stages.

An executor runs *commands* (``python -m harness.grid.worker <job file>``) somewhere
(this machine, a SLURM cluster, a Ray cluster) and reports whether each one is still
running, finished, or failed. What a job does, whether it is already done, and what to
retry are the driver's business; the job records its own status and costs when it ends.
So an executor is small, and a new engine is one module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

State = Literal["running", "finished", "failed"]


@dataclass(frozen=True)
class Resources:
    """What one job asks of the machine it runs on."""

    gpus: int = 0
    cpus: int = 1
    mem_gb: float | None = None
    time_min: int | None = None
    partition: str | None = None


@dataclass(frozen=True)
class Submission:
    """Everything an executor needs to start one job; built by the driver."""

    key: str  # the job's stable key, e.g. ``train/smollm2/de/tiny-demo``
    command: tuple[str, ...]  # argv to run
    log_path: Path  # stdout and stderr go here (appended)
    resources: Resources = field(default_factory=Resources)
    env: dict[str, str] = field(default_factory=dict)  # extra environment variables
    cwd: Path | None = None


@dataclass(frozen=True)
class Handle:
    """A submitted job as the executor knows it."""

    key: str
    executor_id: str  # pid, SLURM job id, Ray task id...
    log_path: Path


@runtime_checkable
class Executor(Protocol):
    """Run commands somewhere; report their state."""

    name: str
    # True when ``submit(after=...)`` makes the engine itself wait for those handles
    # to succeed (SLURM ``afterok``); the driver then submits a job before its
    # dependencies have finished. False: the driver submits only ready jobs.
    supports_dependencies: bool

    def submit(self, submission: Submission, after: Sequence[Handle] = ()) -> Handle:
        """Start (or queue) one job; returns at once."""
        ...

    def poll(self, handles: Sequence[Handle]) -> dict[str, State]:
        """The state of each handle, by key. A job whose command exited 0 is ``finished``."""
        ...

    def cancel(self, handle: Handle) -> None:
        """Stop one job; no error if it already ended."""
        ...

    def close(self) -> None:
        """Release the engine (a local Ray instance, ...); running jobs may go on."""
        ...
