"""Run jobs as subprocesses of this machine, a few at a time.

The embedded default. Each job is its own process (``python -m harness.grid.worker``),
so a crash, an out-of-memory kill or a CUDA error in one job never takes the driver or
the other jobs with it, and GPU memory is returned to the system when a job ends.
Jobs start in their own session: if the driver is killed they finish their work and
record it, and the next ``run`` picks their results up.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from harness.errors import ConfigError
from harness.grid.executors.base import Handle, State, Submission

logger = logging.getLogger(__name__)


@dataclass
class _Slot:
    submission: Submission
    process: subprocess.Popen | None = None


class LocalExecutor:
    """Subprocesses on this machine; at most ``workers`` at once (the rest wait in order).

    Options (the grid's ``executor_options``):
        workers: jobs run at once (default 1: model jobs on one machine contend for
            the same cores or GPU; raise it when jobs are small or GPUs are many).
    """

    name = "local"
    supports_dependencies = False

    def __init__(self, workers: int = 1) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ConfigError(f"executor_options.workers must be an integer >= 1, got {workers!r}")
        self.workers = workers
        self._slots: dict[str, _Slot] = {}
        self._queue: deque[str] = deque()
        self._counter = 0

    def _start(self, slot: _Slot) -> None:
        sub = slot.submission
        sub.log_path.parent.mkdir(parents=True, exist_ok=True)
        with sub.log_path.open("ab") as log:
            slot.process = subprocess.Popen(
                list(sub.command),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=sub.cwd,
                env={**os.environ, **sub.env},
                start_new_session=True,
            )
        logger.debug("local: started %s as pid %d", sub.key, slot.process.pid)

    def _running(self) -> int:
        return sum(
            1 for s in self._slots.values() if s.process is not None and s.process.poll() is None
        )

    def _fill(self) -> None:
        while self._queue and self._running() < self.workers:
            self._start(self._slots[self._queue.popleft()])

    def submit(self, submission: Submission, after: Sequence[Handle] = ()) -> Handle:
        if after:
            raise ConfigError("the local executor runs only ready jobs (no dependencies)")
        self._counter += 1
        executor_id = f"local-{os.getpid()}-{self._counter}"
        self._slots[executor_id] = _Slot(submission)
        self._queue.append(executor_id)
        self._fill()
        return Handle(submission.key, executor_id, submission.log_path)

    def poll(self, handles: Sequence[Handle]) -> dict[str, State]:
        self._fill()
        states: dict[str, State] = {}
        for handle in handles:
            slot = self._slots.get(handle.executor_id)
            if slot is None:
                states[handle.key] = "failed"
                continue
            code = None if slot.process is None else slot.process.poll()
            if code is None:
                states[handle.key] = "running"
            else:
                states[handle.key] = "finished" if code == 0 else "failed"
        self._fill()
        return states

    def pid(self, handle: Handle) -> int | None:
        slot = self._slots.get(handle.executor_id)
        return None if slot is None or slot.process is None else slot.process.pid

    def cancel(self, handle: Handle) -> None:
        slot = self._slots.get(handle.executor_id)
        if slot is None:
            return
        if handle.executor_id in self._queue:
            self._queue.remove(handle.executor_id)
            slot.process = None
            self._slots.pop(handle.executor_id)
            return
        if slot.process is not None and slot.process.poll() is None:
            try:
                os.killpg(slot.process.pid, 15)
                slot.process.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(slot.process.pid, 9)

    def close(self) -> None:
        """Local jobs are not stopped on close: they record their own results."""
