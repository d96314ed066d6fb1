"""Run each grid job as one SLURM job, submitted through submitit.

submitit writes the batch script, pickles the callable, and, when SLURM signals a time
limit or a preemption, requeues a job whose callable has a ``checkpoint`` method. Our
callable only runs the worker command, and the worker skips work that is already done,
so a requeued job simply starts the command again.

States come from ``squeue`` (one call per poll, all handles at once), not from
``sacct``: many clusters (and our CI one) run without accounting. A job that has left
``squeue`` is told apart by submitit's result pickle: ``finished`` iff it says success.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.grid.executors.base import Handle, State, Submission

logger = logging.getLogger(__name__)

_FINISHED = {"COMPLETED"}
_FAILED = {
    "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED",
    "DEADLINE", "BOOT_FAIL", "REVOKED", "SPECIAL_EXIT",
}  # fmt: skip
# Every other state (PENDING, RUNNING, REQUEUED, CONFIGURING, COMPLETING, SUSPENDED...)
# means "not over yet".
_NO_DEP = "failed-dependency"  # executor_id of a job never submitted: a dependency failed


def _ignore_usr2() -> None:
    """Runs in the child before exec: SLURM's USR2 warning is for submitit, not the worker.

    Without it the default action of USR2 would kill the worker while submitit is
    still checkpointing and requeueing the job.
    """
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)


class _RunCommand:
    """The picklable callable a SLURM job runs: the command, its output appended to the log.

    It has submitit's ``checkpoint`` (the ``helpers.Checkpointable`` protocol, duck-typed
    so that importing this module never needs submitit): on timeout or preemption the
    same command is resubmitted, which is safe because the worker is idempotent.
    """

    def __init__(self, submission: Submission) -> None:
        self.command = list(submission.command)
        self.log_path = str(submission.log_path)
        self.env = dict(submission.env)
        self.cwd = None if submission.cwd is None else str(submission.cwd)

    def __call__(self) -> None:
        Path(self.log_path).parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            code = subprocess.run(
                self.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.cwd,
                env={**os.environ, **self.env},
                preexec_fn=_ignore_usr2,
                check=False,
            ).returncode
        if code != 0:  # a non-zero exit makes the SLURM job FAILED
            raise RuntimeError(f"command {self.command[0]!r} exited with code {code}")

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, *args, **kwargs)


class SlurmExecutor:
    """One SLURM job per submission; SLURM itself waits for dependencies (``afterok``).

    Options (the grid's ``executor_options``):
        folder: where submitit keeps its scripts, pickles and logs; must be visible from
            the compute nodes (default: ``slurm/`` next to the first submission's log).
        partition, account, qos: passed to sbatch (a job's ``resources.partition`` wins).
        max_retries_on_preemption: requeues after a time limit (submitit's
            ``max_num_timeout``; preemptions are always requeued).
        additional_parameters: extra sbatch options, e.g. ``{"constraint": "a100"}``.
        setup: shell lines run in the batch script first (``module load ...``).
        poll_interval: seconds between two ``squeue`` calls; polls in between answer
            from the last one, so a tight driver loop does not flood slurmctld.
    """

    name = "slurm"
    supports_dependencies = True

    def __init__(
        self,
        folder: str | Path | None = None,
        partition: str | None = None,
        account: str | None = None,
        qos: str | None = None,
        max_retries_on_preemption: int = 3,
        additional_parameters: dict[str, Any] | None = None,
        setup: Sequence[str] | None = None,
        poll_interval: float = 1.0,
    ) -> None:
        try:
            import submitit  # noqa: F401
        except ImportError as exc:
            raise ConfigError(
                "the slurm executor needs submitit: pip install 'polyglot-harness[slurm]'"
            ) from exc
        retries = max_retries_on_preemption
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ConfigError(f"max_retries_on_preemption must be an integer >= 0, got {retries!r}")
        if not isinstance(poll_interval, int | float) or poll_interval < 0:
            raise ConfigError(f"poll_interval must be a number >= 0, got {poll_interval!r}")
        if additional_parameters is not None and not isinstance(additional_parameters, dict):
            raise ConfigError("additional_parameters must be a mapping of sbatch options")
        if isinstance(setup, str) or not all(isinstance(line, str) for line in setup or ()):
            raise ConfigError("setup must be a list of shell lines")
        self.folder = None if folder is None else Path(folder)
        self.partition, self.account, self.qos = partition, account, qos
        self.max_retries = retries
        self.additional_parameters = dict(additional_parameters or {})
        self.setup = list(setup or [])
        self.poll_interval = float(poll_interval)
        self._folders: dict[str, Path] = {}  # job id -> submitit folder
        self._cache: tuple[float, dict[str, str]] | None = None  # (time, job id -> state)

    def _folder_for(self, handle: Handle) -> Path:
        return (
            self._folders.get(handle.executor_id) or self.folder or handle.log_path.parent / "slurm"
        )

    def submit(self, submission: Submission, after: Sequence[Handle] = ()) -> Handle:
        import submitit

        # A finished dependency may already be purged from slurmctld (sbatch would then
        # refuse the id); a failed one means this job must never run.
        dep_states = self.poll(list(after)) if after else {}
        if any(state == "failed" for state in dep_states.values()):
            logger.info("slurm: %s not submitted: a dependency failed", submission.key)
            return Handle(submission.key, _NO_DEP, submission.log_path)
        pending = [h.executor_id for h in after if dep_states.get(h.key) != "finished"]

        folder = self.folder or submission.log_path.parent / "slurm"
        self.folder = folder  # later jobs share the first one's folder
        res = submission.resources
        minutes = res.time_min or 60
        extra = dict(self.additional_parameters)
        if pending:
            extra["dependency"] = "afterok:" + ":".join(pending)
            extra["kill_on_invalid_dep"] = "yes"
        params: dict[str, Any] = {
            "job_name": submission.key,
            "time": minutes,
            "cpus_per_task": res.cpus,
            # SLURM may signal up to a minute early: keep the warning inside short jobs.
            "signal_delay_s": min(90, max(10, minutes * 15)),
            "additional_parameters": extra,
        }
        optional = {
            "partition": res.partition or self.partition,
            "account": self.account,
            "qos": self.qos,
            "gpus_per_node": res.gpus or None,
            "mem": None if res.mem_gb is None else f"{max(1, round(res.mem_gb * 1024))}M",
            "setup": self.setup or None,
        }
        params.update({k: v for k, v in optional.items() if v is not None})
        executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=self.max_retries)
        executor.update_parameters(**params)
        submission.log_path.parent.mkdir(parents=True, exist_ok=True)
        job = executor.submit(_RunCommand(submission))
        self._folders[job.job_id] = folder
        self._cache = None  # the next poll must see this job
        logger.debug("slurm: submitted %s as job %s", submission.key, job.job_id)
        return Handle(submission.key, str(job.job_id), submission.log_path)

    def _squeue(self, ids: Sequence[str]) -> dict[str, str] | None:
        """SLURM state of each job slurmctld still knows; None when squeue does not answer."""
        cached = self._cache
        if (
            cached
            and time.monotonic() - cached[0] < self.poll_interval
            and set(ids) <= cached[1].keys()
        ):
            return cached[1]
        cmd = ["squeue", "-h", "-t", "all", "-j", ",".join(ids), "-o", "%i %T"]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            logger.warning("slurm: squeue failed (%s); jobs count as running", exc)
            return None
        if out.returncode != 0 and "Invalid job id" not in out.stderr:  # all gone: not an error
            logger.warning("slurm: squeue failed: %s", out.stderr.strip())
            return None
        states = dict(
            line.split()[:2] for line in out.stdout.splitlines() if len(line.split()) >= 2
        )
        self._cache = (time.monotonic(), states)
        return states

    def _result_state(self, handle: Handle) -> State:
        """A job slurmctld forgot: submitit's result pickle says whether it succeeded."""
        path = self._folder_for(handle) / f"{handle.executor_id}_0_result.pkl"
        try:
            with path.open("rb") as f:
                outcome = pickle.load(f)
        except (OSError, pickle.UnpicklingError, EOFError):
            return "failed"  # cancelled or killed before submitit could record anything
        return "finished" if outcome[0] == "success" else "failed"

    def poll(self, handles: Sequence[Handle]) -> dict[str, State]:
        ids = [h.executor_id for h in handles if h.executor_id != _NO_DEP]
        squeue = self._squeue(ids) if ids else {}
        states: dict[str, State] = {}
        for handle in handles:
            if handle.executor_id == _NO_DEP:
                states[handle.key] = "failed"
            elif squeue is None:
                states[handle.key] = "running"  # slurmctld busy or down: ask again later
            elif handle.executor_id not in squeue:
                states[handle.key] = self._result_state(handle)
            else:
                slurm = squeue[handle.executor_id].rstrip("+")
                if slurm in _FINISHED:
                    states[handle.key] = "finished"  # the batch script exited 0
                else:
                    states[handle.key] = "failed" if slurm in _FAILED else "running"
        return states

    def cancel(self, handle: Handle) -> None:
        if handle.executor_id == _NO_DEP:
            return
        out = subprocess.run(
            ["scancel", handle.executor_id], capture_output=True, text=True, check=False
        )
        if out.returncode != 0:  # already ended and purged: nothing to stop
            logger.debug("slurm: scancel %s: %s", handle.executor_id, out.stderr.strip())
        self._cache = None

    def close(self) -> None:
        """SLURM jobs outlive the driver: they record their own results."""
