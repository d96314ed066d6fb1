"""Bootstrap of a paper-sized table: vectorised replicates vs a per-replicate Python loop.

The table: 10 teachers x 6 languages x 4 student families (240 students), the paper
suite's benchmarks per language (M-RewardBench everywhere, Global-MMLU-Lite but in
Czech, MGSM in de/es/ja), ``--items`` per benchmark and model (M-RewardBench resampled
within 23 subsets), a base and a reference per family and language, and 60 intrinsic
datasets of ``--rows`` rows each (per-row perplexity and rubric score; the z scaler
refit per replicate). It prints the seconds of :func:`bootstrap_scores` for
``--replicates`` replicates, once with the paper's intrinsic subsample (10,000 rows per
dataset) and once without per-row intrinsic data, and the time of the naive way, which
redraws and rescores the whole table replicate by replicate through ``score_run``:
that loop is timed on ``--loop`` replicates and extrapolated (stated in the output).

Run: python benchmarks/bench_bootstrap.py [--replicates 1000 --items 1000 --rows 10000]
Two cores: ``taskset -c 0,1 python benchmarks/bench_bootstrap.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import numpy as np

TEACHERS = [f"org/teacher-{i}" for i in range(10)]
FAMILIES = ["olmo3-7b", "gemma3-4b", "llama3-8b", "qwen3-8b"]
SUITE = {"ar": ("gmmlu", "mrb"), "cs": ("mrb",), "de": ("gmmlu", "mrb", "mgsm"),
         "es": ("gmmlu", "mrb", "mgsm"), "id": ("gmmlu", "mrb"), "ja": ("gmmlu", "mrb", "mgsm")}  # fmt: skip
SUBSETS = 23


def build(items: int, rows: int, seed: int = 0):
    """Extrinsic rows with their ItemScores, intrinsic rows with per-row values."""
    from harness.score.items import ItemScores
    from harness.score.pgscore import teacher_key
    from harness.score.rows import ExtrinsicRow, IntrinsicRow

    rng = np.random.default_rng(seed)
    strata = np.arange(items) % SUBSETS
    group_weight = rng.uniform(0.5, 1.5, SUBSETS)
    group_weight /= np.bincount(strata, minlength=SUBSETS) * group_weight.sum()
    extrinsic, item_scores, raw = [], {}, {}

    def add(p: float, bench: str, lang: str, **identity) -> None:
        x = (rng.random(items) < p).astype(float)
        if bench == "mrb":  # a fixed weighted mean over subsets, resampled within them
            it = ItemScores(np.arange(items), strata, (group_weight[strata] * x)[None])
        else:
            it = ItemScores.mean(x)
        row = ExtrinsicRow(benchmark=bench, language=lang, score=it.point(), **identity)
        extrinsic.append(row)
        item_scores[row], raw[row] = it, x

    for family in FAMILIES:
        for lang, benches in SUITE.items():
            for bench in benches:
                add(0.35, bench, lang, role="base", student_family=family)
                add(0.70, bench, lang, role="reference", student_family=family)
                for i, teacher in enumerate(TEACHERS):
                    add(0.35 + 0.03 * i, bench, lang, role="student", student_family=family,
                        teacher=teacher, target_language=lang)  # fmt: skip
    intrinsic, row_values = [], {}
    for i, teacher in enumerate(TEACHERS):
        for lang in SUITE:
            ppl = rng.lognormal(np.log(8 + i), 0.6, rows)
            rubric = rng.integers(1, 6, rows).astype(float)
            diversity = (0.3 + 0.01 * i, 0.2 + 0.01 * i)
            intrinsic.append(
                IntrinsicRow(teacher, lang, *diversity, float(rubric.mean()), float(ppl.mean()))
            )
            row_values[(teacher_key(teacher), lang)] = {"perplexity": ppl, "rubric_score": rubric}  # fmt: skip
    return extrinsic, item_scores, raw, intrinsic, row_values


def naive(extrinsic, raw, intrinsic, row_values, replicates: int, seed: int = 0) -> float:
    """Seconds per replicate of the obvious way: redraw every model's items and every
    dataset's rows, rescore the table with score_run, one replicate at a time."""
    from harness.score.pgscore import score_run, teacher_key

    rng = np.random.default_rng(seed)
    strata = {}
    start = time.perf_counter()
    for _ in range(replicates):
        rows = []
        for row in extrinsic:
            x = raw[row]
            idx = rng.integers(0, len(x), len(x))
            if row.benchmark == "mrb":  # within subsets, then the weighted mean
                s = strata.setdefault(len(x), np.arange(len(x)) % SUBSETS)
                score = np.mean([x[idx][s == g].mean() for g in range(SUBSETS)])
            else:
                score = x[idx].mean()
            rows.append(dataclasses.replace(row, score=float(score)))
        intr = []
        for r in intrinsic:
            values = row_values[(teacher_key(r.teacher), r.language)]
            idx = rng.integers(0, len(values["perplexity"]), len(values["perplexity"]))
            intr.append(dataclasses.replace(r, perplexity=float(values["perplexity"][idx].mean()),
                                            rubric_score=float(values["rubric_score"][idx].mean())))  # fmt: skip
        score_run(rows, intr)
    return (time.perf_counter() - start) / replicates


def main(replicates: int, items: int, rows: int, loop: int, workers: int | None) -> None:
    import logging

    from harness.score.bootstrap import bootstrap_scores

    logging.disable(logging.WARNING)
    extrinsic, item_scores, raw, intrinsic, row_values = build(items, rows)
    students = sum(r.role == "student" for r in extrinsic)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"bootstrap of a paper-sized table, {time.strftime('%Y-%m-%d')}, {cores} cores, "
          f"load average {load:.1f} at start")  # fmt: skip
    print(f"  {len(TEACHERS)} teachers x {len(SUITE)} languages x {len(FAMILIES)} families: "
          f"{len(extrinsic)} benchmark scores ({students} of students), {items} items each; "
          f"{len(intrinsic)} intrinsic datasets of {rows} rows")  # fmt: skip
    timings = {}
    for label, values in (("items + intrinsic rows", row_values), ("items only", None)):
        start, cpu = time.perf_counter(), time.process_time()
        result = bootstrap_scores(
            extrinsic, intrinsic, items=item_scores, row_values=values, replicates=replicates,
            workers=workers,
        )  # fmt: skip
        timings[label] = time.perf_counter() - start
        cpu = time.process_time() - cpu
        print(f"  vectorised, {replicates} replicates, {label}: {timings[label]:.2f} s wall, "
              f"{cpu:.2f} s CPU over all threads ({len(result.rows)} cells)")  # fmt: skip
    per = naive(extrinsic, raw, intrinsic, row_values, loop)
    print(f"  naive per-replicate loop: {per:.2f} s per replicate, timed on {loop} replicates; "
          f"extrapolated to {replicates}: {per * replicates:.0f} s "
          f"({per * replicates / timings['items + intrinsic rows']:.0f}x the vectorised time)")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--items", type=int, default=1000, help="items per benchmark and model")
    parser.add_argument("--rows", type=int, default=10_000, help="rows per intrinsic dataset")
    parser.add_argument("--loop", type=int, default=3, help="replicates to time the loop on")
    parser.add_argument("--workers", type=int, default=None, help="threads (default: all CPUs)")
    args = parser.parse_args()
    main(args.replicates, args.items, args.rows, args.loop, args.workers)
