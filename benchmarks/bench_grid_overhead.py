"""What the grid costs on top of the work itself.

1. Orchestration overhead of ``run`` on the local executor: the driver's wall time for
   the example grid (one job at a time) against the sum of its jobs' own wall times, as
   each job measured and recorded them. Goal: < 5 %.
2. Per-job overhead of each engine: a trivial command (``python -c pass``) submitted
   through the executor and polled until it ends, minus the command's own run time.
   Goal: < 2 s on Ray, < 5 s on SLURM. Engines that are not available are reported as
   such (``bash tests/cluster/slurm_up.sh`` starts a one-node SLURM cluster as root).

Run: ``python benchmarks/bench_grid_overhead.py [--languages de] [--jobs 10]``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from harness.files import read_records
from harness.grid.driver import run_grid
from harness.grid.executors import Submission, get_executor
from harness.grid.spec import example_path, parse_grid


def orchestration(languages: list[str], work: Path) -> None:
    data = yaml.safe_load(example_path().read_text(encoding="utf-8"))
    data.update(out=str(work / "grid"), languages=languages, executor_options={"workers": 1})
    start = time.perf_counter()
    report = run_grid(parse_grid(data, source="benchmark"), poll_interval=0.2)
    wall = time.perf_counter() - start
    costs = read_records(work / "grid" / "costs.jsonl")
    jobs = sum(c["wall_s"] for c in costs)
    over = wall - jobs
    print(f"[local run] example grid, languages {','.join(languages)}: {len(costs)} jobs, "
          f"driver {wall:.1f} s, jobs' own time {jobs:.1f} s, overhead {over:.1f} s "
          f"= {100 * over / jobs:.1f} % (goal < 5 %), {over / len(costs):.2f} s per job "
          f"(interpreter start, job file, polling); ok={report.ok}")  # fmt: skip


def per_job(name: str, options: dict, n: int, work: Path) -> None:
    cmd = (sys.executable, "-c", "pass")
    own = []
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run(cmd, check=True)
        own.append(time.perf_counter() - t)
    own_s = min(own)
    try:
        executor = get_executor(name, options)
    except Exception as exc:  # an engine missing here is a fact to report, not a crash
        print(f"[{name}] not available: {exc}")
        return
    latencies = []
    try:
        for i in range(n):
            sub = Submission(key=f"bench/{i}", command=cmd, log_path=work / name / f"{i}.log")
            t = time.perf_counter()
            handle = executor.submit(sub)
            while (state := executor.poll([handle])[handle.key]) == "running":
                time.sleep(0.05)
            latencies.append(time.perf_counter() - t)
            assert state == "finished", state
    finally:
        executor.close()
    mean = sum(latencies) / n
    goal = {"ray": 2.0, "slurm": 5.0, "local": 1.0}[name]
    print(f"[{name}] {n} trivial jobs: mean submit-to-finished {mean:.2f} s, command alone "
          f"{own_s:.2f} s, overhead {mean - own_s:.2f} s per job (goal < {goal:.0f} s), "
          f"ratio to goal {(mean - own_s) / goal:.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--languages", default="de", help="example-grid languages (default de)")
    parser.add_argument("--jobs", type=int, default=10, help="trivial jobs per engine")
    parser.add_argument("--skip-grid", action="store_true", help="only the per-job overheads")
    parser.add_argument("--skip-engines", action="store_true", help="only the grid overhead")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-grid-"))
    try:
        engines = () if args.skip_engines else (
            ("local", {}), ("ray", {"num_cpus": 2}),
            ("slurm", {"folder": str(work / "submitit"), "poll_interval": 0}))  # fmt: skip
        for name, options in engines:
            if name == "slurm" and not shutil.which("sbatch"):
                print("[slurm] not available: no sbatch on PATH (tests/cluster/slurm_up.sh)")
                continue
            per_job(name, options, args.jobs, work)
        if not args.skip_grid:
            orchestration(args.languages.split(","), work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
