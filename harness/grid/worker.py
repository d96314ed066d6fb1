"""Run one grid job: ``python -m harness.grid.worker <job file>``.

This is the command every executor runs. The job records its own start, end and cost,
so the records are right even when the driver that submitted it is dead. A lock per job
makes a duplicate harmless (a driver restarted while its old local jobs still run, a
SLURM requeue racing a retry): the second copy waits, finds the job done, and exits.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import sys
import traceback
from pathlib import Path

from harness.grid.costs import CostMeter
from harness.grid.graph import Job
from harness.grid.records import GridPaths, is_done, record, stale_stamp, write_stamp

logger = logging.getLogger(__name__)


def run_job(job: Job, paths: GridPaths, *, attempt: int = 1) -> int:
    """Run ``job`` unless done; returns the process exit code (0 done, 1 failed)."""
    from harness.files import append_jsonl
    from harness.grid.stages import run_stage

    lock_path = paths.lock(job)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a duplicate waits here for the first to end
        if is_done(paths, job):
            logger.info("%s is already done", job.key)
            return 0
        args = dict(job.args)
        if stale_stamp(paths, job):
            # Outputs on disk were made from other settings: the stage must remake them,
            # never resume from or merge with them.
            args["stale"] = True
        paths.stamp(job).unlink(missing_ok=True)
        where = {"host": socket.gethostname(), "pid": os.getpid(), "attempt": attempt}
        record(paths, job, "started", **where)
        meter = CostMeter().start()
        try:
            counters = run_stage(job.stage, args) or {}
        except BaseException as exc:  # recorded, then re-raised as an exit code
            traceback.print_exc()
            line = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
            record(paths, job, "failed", error=line, log=str(paths.log(job)), **where)
            return 130 if isinstance(exc, KeyboardInterrupt) else 1
        cost = meter.stop(job.resources.gpus)
        write_stamp(paths, job)
        append_jsonl(paths.costs_log, {
            "key": job.key, "stage": job.stage, "teacher": job.teacher,
            "language": job.language, "family": job.family, "attempt": attempt,
            "fingerprint": job.fingerprint, **cost,
            **{k: counters.get(k) for k in ("n_requests", "prompt_tokens", "generated_tokens")},
        })  # fmt: skip
        record(paths, job, "done", wall_s=cost["wall_s"], **where)
        return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) not in (1, 2):
        print("usage: python -m harness.grid.worker JOB_FILE [ATTEMPT]", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )  # fmt: skip
    for name in ("httpx", "httpcore", "urllib3", "filelock"):
        logging.getLogger(name).setLevel(logging.WARNING)
    job_file = Path(argv[0])
    data = json.loads(job_file.read_text(encoding="utf-8"))
    job = Job.from_json(data["job"])
    paths = GridPaths(Path(data["root"]))
    return run_job(job, paths, attempt=int(argv[1]) if len(argv) > 1 else 1)


def _exit_now(code: int) -> None:
    """Leave without the interpreter's teardown of torch, lm-eval and datasets (~1 s a
    job, measured): everything the job owes is on disk already (stamps and records are
    written atomically before ``run_job`` returns)."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    _exit_now(main())
