"""What the ``.pth`` hook adds to every Python start in the environment.

The wheel installs ``polyglot_harness_autoload.pth``, which runs at each interpreter
start (pip, pytest, any script), so its cost is paid by everything, not only by us.
This spawns ``python -c pass`` N times with the hook on and N times with it switched
off (``POLYGLOT_HARNESS_AUTOLOAD=0``), interleaved so that machine load hits both alike,
and prints both medians and their difference. Goal: < 5 ms added.

Run: ``python benchmarks/bench_autoload.py [--runs 40] [--python PATH]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

ENV_VAR = "POLYGLOT_HARNESS_AUTOLOAD"
GOAL_MS = 5.0


def _start_time(python: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([python, "-c", "pass"], env=env, check=True)
    return time.perf_counter() - start


def measure(python: str, runs: int) -> tuple[float, float]:
    """Median start-up seconds with the hook on and off, interleaved run by run."""
    on_env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    off_env = {**on_env, ENV_VAR: "0"}
    for env in (on_env, off_env):  # warm the page cache and the .pyc files
        _start_time(python, env)
    on: list[float] = []
    off: list[float] = []
    for _ in range(runs):
        on.append(_start_time(python, on_env))
        off.append(_start_time(python, off_env))
    return statistics.median(on), statistics.median(off)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="starts per setting")
    parser.add_argument("--python", default=sys.executable, help="interpreter to time")
    args = parser.parse_args()
    on, off = measure(args.python, args.runs)
    added_ms = 1000 * (on - off)
    print(
        f"python -c pass, median of {args.runs}: hook on {1000 * on:.1f} ms, "
        f"hook off ({ENV_VAR}=0) {1000 * off:.1f} ms, added {added_ms:.1f} ms "
        f"(goal < {GOAL_MS:.0f} ms: {'ok' if added_ms < GOAL_MS else 'NOT MET'})"
    )


if __name__ == "__main__":
    main()
