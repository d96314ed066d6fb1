"""What loading the generation tasks' documents costs a chunked, paper-sized run.

The runner (``harness/generate/runner.py``) loads every task once to size it, then
lm-eval loads it again for each chunk the task is in (one ``simple_evaluate`` per chunk,
all in one process): 1 + ceil(n_docs / chunk_size) loads per task, 41 for the
protocol's 10,000 documents in the default chunks of 256. Each load used to build the
documents and their Arrow dataset afresh; ``load_docs`` now serves repeats from a
bounded in-process cache keyed by the arguments and the seed file's bytes.

This replays the runner's schedule (its own ``plan_chunks``, tasks in its order) through
``load_docs`` for each language x 3 strategies, on a synthetic seed pool of n_docs rows
per language (the paper's pools hold 10,000, so translate and respond are not capped):
once as it is now (cache), and once building every load afresh as before (naive). The
naive side times ``--naive-loads`` loads per task and scales them to the schedule,
unless ``--full`` times every one. Each task's cached documents are checked equal to
the naive ones.

Run: ``python benchmarks/bench_docs.py [--languages de,ja] [--n-docs 10000]
[--chunk-size 256] [--naive-loads 3] [--full]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from datasets import DatasetDict

from harness.generate.runner import GenerationConfig, plan_chunks
from harness.generate.task_api import DOCS_CACHE, build_dataset, load_docs
from harness.languages import SOURCE_LANGUAGE
from harness.naming import generation_task
from harness.schema import STRATEGIES
from harness.seeds import load_seed_rows


def write_pool(folder: Path, code: str, rows: int) -> None:
    """``<code>.jsonl`` of ``rows`` distinct seeds, cycled from the bundled sample."""
    bundled = load_seed_rows(code)
    lines = []
    for i in range(rows):
        row = dict(bundled[i % len(bundled)])
        row.update(seed_id=f"{code}-bench-{i:05d}", prompt=f"{row['prompt']} [{i}]")
        lines.append(json.dumps(row, ensure_ascii=False))
    (folder / f"{code}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def schedule(tasks: list[str], n_docs: int, chunk_size: int) -> list[str]:
    """Task loads in the runner's order: all tasks once, then each chunk's tasks."""
    rounds = plan_chunks(dict.fromkeys(tasks, n_docs), chunk_size)
    return tasks + [task for chunk in rounds for task in chunk]


def timed(fn, **kwargs) -> tuple[float, DatasetDict]:
    start = time.perf_counter()
    result = fn(**kwargs)
    return time.perf_counter() - start, result


def naive(**kwargs) -> DatasetDict:
    """The load as it was before the cache: build the documents and the Dataset each time."""
    args = {k: kwargs[k] for k in ("seeds", "n_docs", "seed")}
    return DatasetDict({"test": build_dataset(kwargs["language"], kwargs["strategy"], **args)})


def run_cached(specs: dict[str, dict], loads: list[str], common: dict) -> dict[str, list[float]]:
    """Seconds of each ``load_docs`` call of the schedule, per task, from an empty cache."""
    DOCS_CACHE.clear()
    times: dict[str, list[float]] = {t: [] for t in specs}
    for task in loads:
        times[task].append(timed(load_docs, **specs[task], **common)[0])
    return times


def run_naive(spec: dict, common: dict, count: int) -> tuple[float, bool]:
    """Mean seconds of ``count`` fresh builds, and whether they equal the cached documents."""
    seconds = []
    for _ in range(count):
        took, result = timed(naive, **spec, **common)
        seconds.append(took)
    cached = load_docs(**spec, **common)["test"].to_list()
    return statistics.mean(seconds), result["test"].to_list() == cached


def report(specs: dict[str, dict], times: dict[str, list[float]], common: dict, args) -> None:
    """One row per task, then the totals: naive against cached, seconds and ratio."""
    heads = [("naive s/load", 14), ("naive total s", 15), ("cache 1st s", 13)]
    heads += [("cache hit ms", 14), ("cache total s", 15), ("ratio", 8)]
    print(f"\n{'task':<24}{'loads':>6}" + "".join(f"{h:>{w}}" for h, w in heads) + "  same")
    before = after = 0.0
    for task, took in times.items():
        count = len(took) if args.full else min(args.naive_loads, len(took))
        per_load, same = run_naive(specs[task], common, count)
        naive_total = per_load * len(took)
        before, after = before + naive_total, after + sum(took)
        print(f"{task:<24}{len(took):>6}{per_load:>14.2f}{naive_total:>15.1f}"
              f"{took[0]:>13.2f}{1000 * statistics.mean(took[1:]):>14.1f}"
              f"{sum(took):>15.1f}{naive_total / sum(took):>8.1f}  "
              f"{'yes' if same else 'NO'}")  # fmt: skip
    scaled = "" if args.full else f" (naive: {args.naive_loads} loads per task timed, scaled)"
    print(f"\n{'all':<24}{sum(map(len, times.values())):>6}{'':>14}{before:>15.1f}"
          f"{'':>27}{after:>15.1f}{before / after:>8.1f}{scaled}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--languages", default="de,ja", help="target languages (default de,ja)")
    parser.add_argument("--n-docs", type=int, default=10_000, help="documents per task")
    parser.add_argument("--chunk-size", type=int, default=GenerationConfig.chunk_size)
    parser.add_argument("--naive-loads", type=int, default=3, help="naive loads timed per task")
    parser.add_argument("--full", action="store_true", help="time every naive load")
    args = parser.parse_args()
    if args.naive_loads < 1:
        parser.error("--naive-loads must be >= 1")
    languages = args.languages.split(",")
    work = Path(tempfile.mkdtemp(prefix="bench-docs-"))
    try:
        for code in {*languages, SOURCE_LANGUAGE.code}:
            write_pool(work, code, args.n_docs)
        specs = {
            generation_task(s, code): {"language": code, "strategy": s}
            for code in languages
            for s in STRATEGIES
        }
        common = {"seeds": str(work), "n_docs": args.n_docs, "seed": 1234}
        loads = schedule(list(specs), args.n_docs, args.chunk_size)
        print(f"{len(specs)} tasks x {args.n_docs:,} documents, chunks of {args.chunk_size}: "
              f"{len(loads)} loads ({len(loads) // len(specs)} per task), "
              "as the runner does")  # fmt: skip
        times = run_cached(specs, loads, common)
        held, held_bytes = len(DOCS_CACHE), DOCS_CACHE.nbytes
        report(specs, times, common, args)
        print(f"cache holds {held} datasets, {held_bytes / 1e6:.0f} MB of Arrow data (bound "
              f"{DOCS_CACHE.max_bytes / 1e6:.0f} MB), shared with the tasks lm-eval holds; the "
              "runner clears it when the run ends")  # fmt: skip
    finally:
        DOCS_CACHE.clear()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
