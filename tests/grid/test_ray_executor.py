"""The Ray executor on a real local Ray instance (started once for this module)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.grid.executors import Handle, Resources, Submission, get_executor

try:
    import ray
except ImportError:
    if os.environ.get("CI"):  # CI installs ray: a missing one is a failure there
        raise
    pytest.skip(
        "ray is not installed: pip install 'polyglot-harness[ray]'", allow_module_level=True
    )

from harness.grid.executors.ray import RayExecutor


@pytest.fixture(scope="module")
def executor() -> Iterator[RayExecutor]:
    ex = get_executor("ray")
    assert isinstance(ex, RayExecutor)
    yield ex
    ex.close()


def _python(code: str) -> tuple[str, ...]:
    return (sys.executable, "-c", code)


def _wait(ex: RayExecutor, handle: Handle, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = ex.poll([handle])[handle.key]
        if state != "running":
            return state
        time.sleep(0.05)
    raise AssertionError(f"{handle.key} still running after {timeout} s")


def test_command_finishes_and_logs(executor: RayExecutor, tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    code = f"import pathlib; pathlib.Path({str(out)!r}).write_text('done'); print('hello from ray')"
    # all of a 2-core machine: the executor must not hold a core back
    sub = Submission("t/finish", _python(code), tmp_path / "logs" / "finish.log", Resources(cpus=2))
    handle = executor.submit(sub)
    assert handle.key == "t/finish" and handle.executor_id
    assert _wait(executor, handle) == "finished"
    assert out.read_text() == "done"
    assert "hello from ray" in sub.log_path.read_text()
    assert executor.poll([handle]) == {"t/finish": "finished"}  # stays finished


def test_nonzero_exit_fails(executor: RayExecutor, tmp_path: Path) -> None:
    sub = Submission("t/fail", _python("import sys; print('bye'); sys.exit(1)"), tmp_path / "f.log")
    assert _wait(executor, executor.submit(sub)) == "failed"
    assert "bye" in sub.log_path.read_text()


def test_env_and_cwd_reach_the_command(executor: RayExecutor, tmp_path: Path) -> None:
    code = "import os, pathlib; pathlib.Path('env.txt').write_text(os.environ['POLYGLOT_RAY_T'])"
    sub = Submission(
        "t/env", _python(code), tmp_path / "e.log", env={"POLYGLOT_RAY_T": "xyz"}, cwd=tmp_path
    )
    assert _wait(executor, executor.submit(sub)) == "finished"
    assert (tmp_path / "env.txt").read_text() == "xyz"


def test_cancel_stops_the_job_and_its_children(executor: RayExecutor, tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    command = ("sh", "-c", f"sleep 60 & echo $! > {pid_file}; wait")
    handle = executor.submit(Submission("t/cancel", command, tmp_path / "c.log"))
    deadline = time.monotonic() + 20
    while not pid_file.exists() or not pid_file.read_text().strip():
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.05)
    child = int(pid_file.read_text())
    started = time.monotonic()
    executor.cancel(handle)
    assert _wait(executor, handle, timeout=10) == "failed"
    assert time.monotonic() - started < 5
    stat = Path(f"/proc/{child}/stat")
    # gone, or a zombie waiting for a reaper: either way no longer running
    assert not stat.exists() or stat.read_text().split()[2] == "Z"
    executor.cancel(handle)  # already ended: no error


def test_impossible_request_fails_fast(executor: RayExecutor, tmp_path: Path) -> None:
    sub = Submission("t/big", _python("pass"), tmp_path / "b.log", Resources(gpus=4))
    with pytest.raises(ConfigError, match=r"t/big.*GPU=4"):
        executor.submit(sub)
    sub = Submission("t/fat", _python("pass"), tmp_path / "b.log", Resources(mem_gb=100_000))
    with pytest.raises(ConfigError, match=r"t/fat.*memory=100000.0GB"):
        executor.submit(sub)


def test_ray_level_retries_when_asked(executor: RayExecutor, tmp_path: Path) -> None:
    """A second executor joins the running instance; with max_retries a flaky job passes."""
    marker = tmp_path / "tried"
    code = (
        f"import pathlib, sys; p = pathlib.Path({str(marker)!r}); "
        "first = not p.exists(); p.touch(); sys.exit(1 if first else 0)"
    )
    retrying = RayExecutor(max_retries=1)
    sub = Submission("t/flaky", _python(code), tmp_path / "r.log")
    assert _wait(retrying, retrying.submit(sub)) == "finished"
    retrying.close()  # it did not start Ray: the module's instance lives on
    assert ray.is_initialized()


def test_protocol_edges(executor: RayExecutor, tmp_path: Path) -> None:
    sub = Submission("t/dep", _python("pass"), tmp_path / "d.log")
    with pytest.raises(ConfigError, match="only ready jobs"):
        executor.submit(sub, after=[Handle("x", "y", tmp_path / "x.log")])
    assert executor.poll([Handle("t/gone", "no-such-id", tmp_path / "g.log")]) == {
        "t/gone": "failed"
    }
    executor.cancel(Handle("t/gone", "no-such-id", tmp_path / "g.log"))
    with pytest.raises(ConfigError, match="bad executor_options"):
        get_executor("ray", {"adress": "auto"})
    with pytest.raises(ConfigError, match="local instance only"):
        RayExecutor(address="auto", num_cpus=2)
