"""Run jobs as Ray tasks: on a local Ray instance or on a Ray cluster.

Each job is one Ray task that runs the job's command as a subprocess, so Ray only
schedules (CPUs, GPUs, memory) and the job itself stays the same process it is under
the local executor. ``ray`` is imported only when this executor is built.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.grid.executors.base import Handle, State, Submission

logger = logging.getLogger(__name__)

_GRACE_S = 10.0  # between SIGTERM and SIGKILL when a job is stopped


class CommandFailed(RuntimeError):
    """A job's command exited non-zero or ran past its time; Ray may retry this one."""


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the job's process group, then SIGKILL: its own children die with it."""
    for sig, wait_s in ((signal.SIGTERM, _GRACE_S), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=wait_s)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def _run_command(
    key: str,
    command: Sequence[str],
    log_path: str,
    env: dict[str, str],
    cwd: str | None,
    time_limit_s: float | None,
) -> int:
    """Body of every Ray task: run one command, raise when it fails.

    The command gets its own session so that stopping it reaches its children too.
    It is polled, not waited for, because Ray's gentle cancel interrupts only Python
    code: the ``KeyboardInterrupt`` lands here and stops the whole process group.
    That interrupt is a SIGINT, which a worker started from a background shell or
    under nohup inherits as ignored; so it is handled again first.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        with contextlib.suppress(ValueError):  # not the main thread: leave it be
            signal.signal(signal.SIGINT, signal.default_int_handler)
    path = Path(log_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as log:
        proc = subprocess.Popen(
            list(command),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env={**os.environ, **env},  # the worker's environment: Ray's CUDA_VISIBLE_DEVICES
            start_new_session=True,
        )
        deadline = None if time_limit_s is None else time.monotonic() + time_limit_s
        try:
            while (code := proc.poll()) is None:
                if deadline is not None and time.monotonic() > deadline:
                    _stop_group(proc)
                    raise CommandFailed(f"{key}: ran past its {time_limit_s:.0f} s limit")
                time.sleep(0.05)
        except BaseException:
            _stop_group(proc)
            raise
    if code != 0:
        raise CommandFailed(f"{key}: command exited with {code}")
    return code


class RayExecutor:
    """Ray tasks, one per job, scheduled by the resources the job asks for.

    Options (the grid's ``executor_options``):
        address: None starts a local Ray instance; ``"auto"`` joins the cluster
            running on this machine; ``"ray://host:port"`` a remote one.
        num_cpus, num_gpus: the size of a local instance (default: this machine's).
        runtime_env: Ray runtime environment for all jobs (dict).
        max_retries: Ray-level retries of a failed job (default 0: the driver retries).
        namespace: Ray namespace.
        include_dashboard: start Ray's dashboard with a local instance (default False).
        check_resources: refuse a job no node can hold (default True; turn it off for
            an autoscaling cluster whose nodes appear on demand).
    """

    name = "ray"
    supports_dependencies = False

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        num_gpus: int | None = None,
        runtime_env: dict[str, Any] | None = None,
        max_retries: int = 0,
        namespace: str | None = None,
        include_dashboard: bool = False,
        check_resources: bool = True,
    ) -> None:
        try:
            import ray
        except ImportError as exc:
            raise ConfigError(
                "the ray executor needs Ray: pip install 'polyglot-harness[ray]'"
            ) from exc
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigError(f"executor_options.max_retries must be >= 0, got {max_retries!r}")
        if address is not None and (num_cpus is not None or num_gpus is not None):
            raise ConfigError("executor_options num_cpus/num_gpus size a local instance only")
        self._ray = ray
        self.max_retries = max_retries
        self.check_resources = check_resources
        self._refs: dict[str, Any] = {}  # executor_id -> ObjectRef
        self._ended: dict[str, State] = {}
        self._started = not ray.is_initialized() and address is None
        kwargs: dict[str, Any] = {"namespace": namespace, "runtime_env": runtime_env}
        if address is None:
            kwargs.update(num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=include_dashboard)
        started = time.monotonic()
        try:
            ray.init(
                address="local" if address is None else address,
                log_to_driver=False,
                configure_logging=False,
                ignore_reinit_error=True,
                **kwargs,
            )
        except ConnectionError as exc:  # "auto" with no cluster here, a wrong ray:// address
            raise ConfigError(f"executor_options.address={address!r}: {exc}") from exc
        logger.info(
            "ray: %s in %.1f s (%s)",
            "started a local instance" if self._started else "connected",
            time.monotonic() - started,
            ray.cluster_resources(),
        )
        self._remote = ray.remote(_run_command)

    def _check_fits(self, sub: Submission, need: dict[str, float]) -> None:
        """Fail now, not hang forever, when no node could ever run this job."""
        nodes = [n["Resources"] for n in self._ray.nodes() if n.get("Alive")]
        if any(all(node.get(k, 0) >= v for k, v in need.items()) for node in nodes):
            return

        def show(k: str, v: float) -> str:
            return f"memory={v / 1024**3:.1f}GB" if k == "memory" else f"{k}={v:g}"

        asked = ", ".join(show(k, v) for k, v in need.items())
        have = "; ".join(", ".join(show(k, node.get(k, 0)) for k in need) for node in nodes)
        raise ConfigError(
            f"job {sub.key!r} asks for {asked}, but no Ray node has that (nodes: {have or 'none'})"
        )

    def submit(self, submission: Submission, after: Sequence[Handle] = ()) -> Handle:
        if after:
            raise ConfigError("the ray executor runs only ready jobs (no dependencies)")
        res = submission.resources
        need: dict[str, float] = {"CPU": res.cpus, "GPU": res.gpus}
        if res.mem_gb is not None:
            need["memory"] = int(res.mem_gb * 1024**3)
        if self.check_resources:
            self._check_fits(submission, {k: v for k, v in need.items() if v})
        ref = self._remote.options(
            name=submission.key,
            num_cpus=res.cpus,
            num_gpus=res.gpus,
            memory=need.get("memory"),
            max_retries=self.max_retries,
            retry_exceptions=[CommandFailed] if self.max_retries else False,
        ).remote(
            submission.key,
            list(submission.command),
            str(submission.log_path),
            dict(submission.env),
            None if submission.cwd is None else str(submission.cwd),
            None if res.time_min is None else res.time_min * 60.0,
        )
        executor_id = ref.hex()
        self._refs[executor_id] = ref
        logger.debug("ray: submitted %s as %s", submission.key, executor_id)
        return Handle(submission.key, executor_id, submission.log_path)

    def poll(self, handles: Sequence[Handle]) -> dict[str, State]:
        states: dict[str, State] = {}
        pending: dict[str, Handle] = {}
        for handle in handles:
            if handle.executor_id in self._ended:
                states[handle.key] = self._ended[handle.executor_id]
            elif handle.executor_id not in self._refs:
                states[handle.key] = "failed"  # not ours (e.g. from a previous driver)
            else:
                states[handle.key] = "running"
                pending[handle.executor_id] = handle
        if pending:
            refs = [self._refs[i] for i in pending]
            ready, _ = self._ray.wait(refs, num_returns=len(refs), timeout=0)
            for ref in ready:
                handle = pending[ref.hex()]
                try:
                    self._ray.get(ref)
                    state: State = "finished"
                except self._ray.exceptions.RayError as exc:
                    last = str(exc).strip().splitlines()[-1:] or [type(exc).__name__]
                    logger.info("ray: %s failed: %s", handle.key, last[0])
                    state = "failed"
                self._ended[handle.executor_id] = states[handle.key] = state
        return states

    def cancel(self, handle: Handle) -> None:
        """Interrupt the task (it stops its process group), then force-kill it if need be.

        A forced cancel alone kills the Ray worker and its direct child only, which
        would leave the job's own children running.
        """
        ref = self._refs.get(handle.executor_id)
        if ref is None or handle.executor_id in self._ended:
            return
        self._ray.cancel(ref, force=False)
        ready, _ = self._ray.wait([ref], timeout=_GRACE_S + 10.0)
        if not ready:
            self._ray.cancel(ref, force=True)

    def close(self) -> None:
        """Shut Ray down if this executor started it (its jobs end with it)."""
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
            self._started = False
