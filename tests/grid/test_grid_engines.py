"""The same small grid on a real SLURM cluster and a real Ray instance.

Each engine runs every job of a one-teacher grid (generation through scoring); the
numbers must equal the local executor's for the same cells, since the jobs are the same
commands wherever they run. SLURM tests need a running cluster (``tests/cluster/
slurm_up.sh`` starts one as root); in CI they run, never skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import records, scores_of, small_grid, spec_of

from harness.grid.driver import run_grid

SMOL = "SmolLM2-135M-Instruct"
CELL = (SMOL, "de", "tiny-demo")
SAME = ("student_score", "base_score", "reference_score", "pgr", "headroom_gain")


def _one_teacher(out: Path, executor: str, options: dict) -> dict:
    data = small_grid(out, executor=executor, executor_options=options)
    data["teachers"] = [t for t in data["teachers"] if t["name"] == SMOL]
    return data


def _slurm_ready() -> str | None:
    if not shutil.which("sbatch"):
        return "SLURM is not installed (tests/cluster/slurm_up.sh installs it as root)"
    if subprocess.run(["sinfo"], capture_output=True, timeout=30).returncode != 0:
        return "no SLURM controller answers sinfo"
    return None


@pytest.fixture(scope="module")
def slurm_cluster() -> None:
    reason = _slurm_ready()
    if reason and os.environ.get("CI") and os.geteuid() == 0:
        script = Path(__file__).parents[1] / "cluster" / "slurm_up.sh"
        subprocess.run(["bash", str(script)], check=True, timeout=600)
        reason = _slurm_ready()
        assert reason is None, reason
    if reason:
        pytest.skip(reason)


def _check(out: Path, finished_grid: Path, engine: str) -> None:
    mine, theirs = scores_of(out), scores_of(finished_grid)
    assert set(mine) == {CELL}
    for field in SAME:
        assert mine[CELL][field] == pytest.approx(theirs[CELL][field], abs=1e-9), field
    submitted = [r for r in records(out) if r["status"] == "submitted"]
    assert submitted and {r["executor"] for r in submitted} == {engine}
    assert len({r["key"] for r in records(out, "costs.jsonl")}) == 11  # every job, once


def test_grid_on_slurm(slurm_cluster: None, finished_grid: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    options = {"folder": str(tmp_path / "submitit"), "poll_interval": 0.5}
    report = run_grid(spec_of(_one_teacher(out, "slurm", options)), poll_interval=0.5)
    assert report.ok, (report.failed, report.blocked)
    _check(out, finished_grid, "slurm")
    # Jobs went to SLURM with afterok dependencies: some were submitted before the jobs
    # they need had finished.
    recs = records(out)
    done_at = {r["key"]: r["time"] for r in recs if r["status"] == "done"}
    train = next(
        r for r in recs if r["status"] == "submitted" and r["key"].startswith("evaluate/student")
    )
    assert train["time"] < done_at["train/SmolLM2-135M-Instruct/de/tiny-demo"]


def test_grid_on_ray(finished_grid: Path, tmp_path: Path) -> None:
    if not os.environ.get("CI"):
        pytest.importorskip("ray")
    out = tmp_path / "out"
    report = run_grid(spec_of(_one_teacher(out, "ray", {"num_cpus": 2})), poll_interval=0.2)
    assert report.ok, (report.failed, report.blocked)
    _check(out, finished_grid, "ray")
