"""The SLURM executor against a real one-node SLURM cluster (no mocks).

Start the cluster with ``bash tests/cluster/slurm_up.sh`` (root). Without SLURM the
tests are skipped, except in CI as root, where the cluster is started and a cluster
that does not come up is a failure, not a skip.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.grid.executors import get_executor
from harness.grid.executors.base import Handle, Resources, State, Submission

REPO = Path(__file__).resolve().parents[2]
SLURM_UP = REPO / "tests" / "cluster" / "slurm_up.sh"
WAIT_S = 60


def _cluster_answers() -> bool:
    if not (shutil.which("sbatch") and shutil.which("squeue") and shutil.which("sinfo")):
        return False
    try:
        return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=15).returncode == 0
    except subprocess.TimeoutExpired:
        return False


@pytest.fixture(scope="session")
def slurm_cluster() -> None:
    """A SLURM cluster that answers; started by slurm_up.sh in CI (as root)."""
    if _cluster_answers():
        return
    if not (os.environ.get("CI") and os.geteuid() == 0):
        pytest.skip(
            "no SLURM cluster here (sbatch/squeue missing or sinfo fails); as root run tests/cluster/slurm_up.sh"
        )
    try:
        out = subprocess.run(["bash", str(SLURM_UP)], capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        pytest.fail("tests/cluster/slurm_up.sh did not finish in 600 s")
    if out.returncode != 0 or not _cluster_answers():
        pytest.fail(f"CI: the SLURM test cluster did not start:\n{out.stdout}\n{out.stderr}")


@pytest.fixture
def executor(slurm_cluster: None, tmp_path: Path):
    ex = get_executor("slurm", {"folder": str(tmp_path / "submitit"), "poll_interval": 0})
    yield ex
    ex.close()


def _py(code: str) -> tuple[str, ...]:
    return (sys.executable, "-c", code)


def _sub(tmp_path: Path, key: str, code: str, **kw) -> Submission:
    return Submission(key=key, command=_py(code), log_path=tmp_path / "logs" / f"{key}.log", **kw)


def _wait(ex, handles: list[Handle], timeout: float = WAIT_S) -> dict[str, State]:
    deadline = time.monotonic() + timeout
    while True:
        states = ex.poll(handles)
        if all(s != "running" for s in states.values()) or time.monotonic() > deadline:
            return states
        time.sleep(0.2)


def _scontrol(job_id: str) -> str:
    return subprocess.run(
        ["scontrol", "show", "job", job_id], capture_output=True, text=True, check=True
    ).stdout


def test_command_finishes_and_logs(executor, tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    sub = _sub(tmp_path, "ok", f"open({str(out)!r}, 'w').write('x'); print('hello from slurm')")
    handle = executor.submit(sub)
    assert handle.executor_id.isdigit()
    assert _wait(executor, [handle]) == {"ok": "finished"}
    assert out.read_text() == "x"
    assert "hello from slurm" in sub.log_path.read_text()


def test_env_and_cwd_reach_the_command(executor, tmp_path: Path) -> None:
    code = "import os; open('env.txt', 'w').write(os.environ['POLYGLOT_X'])"
    handle = executor.submit(_sub(tmp_path, "env", code, env={"POLYGLOT_X": "42"}, cwd=tmp_path))
    assert _wait(executor, [handle]) == {"env": "finished"}
    assert (tmp_path / "env.txt").read_text() == "42"


def test_nonzero_exit_is_failed(executor, tmp_path: Path) -> None:
    sub = _sub(tmp_path, "bad", "import sys; print('about to fail'); sys.exit(1)")
    handle = executor.submit(sub)
    assert _wait(executor, [handle]) == {"bad": "failed"}
    assert "about to fail" in sub.log_path.read_text()


def test_failed_dependency_cancels_the_dependent(executor, tmp_path: Path) -> None:
    marker = tmp_path / "must-not-exist"
    first = executor.submit(_sub(tmp_path, "first", "import sys, time; time.sleep(2); sys.exit(1)"))
    second = executor.submit(_sub(tmp_path, "second", f"open({str(marker)!r}, 'w')"), after=[first])
    assert second.executor_id.isdigit()  # queued in SLURM with afterok, not refused here
    assert _wait(executor, [first, second]) == {"first": "failed", "second": "failed"}
    assert not marker.exists()
    # a job submitted after its dependency already failed is never submitted
    third = executor.submit(_sub(tmp_path, "third", "pass"), after=[first])
    assert executor.poll([third]) == {"third": "failed"}


def test_dependency_runs_after_success(executor, tmp_path: Path) -> None:
    t1, t2 = tmp_path / "t1", tmp_path / "t2"
    first = executor.submit(
        _sub(
            tmp_path,
            "a",
            f"import time; time.sleep(1); open({str(t1)!r}, 'w').write(repr(time.time()))",
        )
    )
    second = executor.submit(
        _sub(tmp_path, "b", f"import time; open({str(t2)!r}, 'w').write(repr(time.time()))"),
        after=[first],
    )
    assert _wait(executor, [first, second]) == {"a": "finished", "b": "finished"}
    assert float(t2.read_text()) >= float(t1.read_text())


def test_cancel(executor, tmp_path: Path) -> None:
    handle = executor.submit(_sub(tmp_path, "long", "import time; time.sleep(120)"))
    executor.cancel(handle)
    assert _wait(executor, [handle], timeout=30) == {"long": "failed"}
    executor.cancel(handle)  # no error once it has ended


def test_preempted_job_is_requeued_and_finishes(executor, tmp_path: Path) -> None:
    # USR2 is what SLURM sends before a time limit or a preemption: submitit checkpoints
    # the callable and requeues the job, which runs the (idempotent) command again.
    config = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True).stdout
    expire = re.search(r"cred_expire=(\d+)", config)
    if not expire or int(expire.group(1)) > 30:
        pytest.skip("requeued jobs wait cred_expire (120 s by default) here; slurm_up.sh sets 10")
    starts = tmp_path / "starts"
    code = (
        f"import time; p = {str(starts)!r}; open(p, 'a').write('s'); "
        "n = len(open(p).read()); time.sleep(60 if n == 1 else 0)"
    )
    handle = executor.submit(_sub(tmp_path, "rq", code))
    deadline = time.monotonic() + 20
    while not starts.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert starts.exists(), "the job did not start"
    time.sleep(1)  # let submitit install its signal handler
    subprocess.run(["scancel", "--signal=USR2", handle.executor_id], check=True)
    # a requeued job waits cred_expire (10 s in slurm_up.sh's config) before it restarts
    assert _wait(executor, [handle]) == {"rq": "finished"}
    assert starts.read_text() == "ss"


def test_resources_reach_slurm(executor, tmp_path: Path) -> None:
    cpus = min(2, os.cpu_count() or 1)
    res = Resources(cpus=cpus, mem_gb=0.5, time_min=7)
    handle = executor.submit(_sub(tmp_path, "res", "import time; time.sleep(30)", resources=res))
    try:
        info = _scontrol(handle.executor_id)
        assert f"NumCPUs={cpus}" in info
        assert "TimeLimit=00:07:00" in info
        assert "MinMemoryNode=512M" in info
        assert "JobName=res" in info
    finally:
        executor.cancel(handle)


def test_bad_options_are_config_errors() -> None:
    pytest.importorskip("submitit")
    with pytest.raises(ConfigError, match="max_retries_on_preemption"):
        get_executor("slurm", {"max_retries_on_preemption": -1})
    with pytest.raises(ConfigError, match="setup"):
        get_executor("slurm", {"setup": "module load cuda"})
    with pytest.raises(ConfigError, match="bad executor_options"):
        get_executor("slurm", {"nodes": 2})
