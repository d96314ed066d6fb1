"""Bootstrap intervals and rank stability for PGR, z and PG-Score.

What a replicate resamples:

* **evaluation items**: every benchmark score is recomputed from lm-eval's per-item
  outputs (``samples_<task>_*.jsonl``), drawn with replacement *within the groups its
  metric weighs separately* (M-RewardBench's sections), so each replicate keeps the
  group sizes and the benchmark's own aggregation stays a fixed weighted mean of items.
  ``pairing="paired"`` (default) draws once per (benchmark, language, item set) and
  applies the draw to every model that answered those items: students of every teacher,
  the base and the reference. The models are compared on the same items, so the item
  difficulty part of their errors cancels in ``student - base`` and between teachers,
  as in a paired test; ``"independent"`` draws per model and benchmark instead (base
  and reference are still one draw per replicate for all the cells they anchor);
* **data rows**: each (teacher, language) dataset's per-row perplexity and rubric score
  (the intrinsic stage's ``rows.parquet``) give the dataset means. Diversity is a
  set-level value of embeddings the intrinsic stage does not keep: it stays at its
  point value, and every row's ``resampled`` record says so;
* **generation seeds**: a model with per-item outputs of several seeds has its seeds
  drawn with replacement first, then items
  (:class:`~harness.score.items.ItemScores` with several rows).

Each replicate then goes through the scorer's own formulas (:mod:`harness.score.pgscore`:
PGR, headroom gain, the z scaler refit over the replicate's cells, PG). Replicate 0 is
the identity draw with the inputs' exact point values, and must reproduce
:func:`~harness.score.pgscore.score_run`'s rows: that checks, on every run, that the
bootstrap computes what the scorer computes.

Intervals are percentile intervals; rank stability and tie groups are
:mod:`harness.score.ranks`'s. What a replicate draws from (items with their aggregation's
weights, per-row values) is read by :mod:`harness.score.items`.

Speed: a draw is a replicates x items count matrix (one ``bincount``), multiplied with
the item values of every model of the item set at once; no Python loop per replicate.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import ConfigError
from harness.naming import INTERVALS_FILE, RANKS_FILE
from harness.score.config import REPLICATES
from harness.score.intervals import INTERVAL_VALUES
from harness.score.items import ROW_METRICS, ItemScores, read_items, read_row_values
from harness.score.pgscore import (
    SHARED_FAMILY,
    GapPolicy,
    ScoreRow,
    family_key,
    fit_z_scores,
    headroom_formula,
    intrinsic_columns,
    pg_formula,
    pgr_formula,
    score_run,
    standardised_mean,
    teacher_key,
)
from harness.score.ranks import LEVEL, percentile_interval, rank_table
from harness.score.rows import ExtrinsicRow, IntrinsicRow

logger = logging.getLogger(__name__)

PAIRINGS: tuple[str, ...] = ("paired", "independent")
GATHER_COLUMNS = 8  # up to this many columns, sum gathered items instead of count x matrix


# ---- draws ---------------------------------------------------------------------------
def _rng(seed: int, key: str) -> np.random.Generator:
    """The generator of one draw: a function of (seed, key) only, so adding a teacher or
    a benchmark never changes the other draws, and a test can redraw any of them."""
    words = np.frombuffer(hashlib.sha256(key.encode()).digest()[:16], dtype=np.uint32)
    return np.random.default_rng(np.random.SeedSequence([seed, *words.tolist()]))


def draw_indices(key: str, strata: np.ndarray, replicates: int, seed: int) -> np.ndarray:
    """Item positions ``(replicates + 1, n)``: row 0 is the identity, rows 1.. draws with
    replacement within each stratum (an item only ever stands in for one of its group)."""
    strata = np.asarray(strata)
    n = len(strata)
    rng = _rng(seed, key)
    idx = np.empty((replicates + 1, n), dtype=np.int32)
    idx[0] = np.arange(n)
    labels = np.unique(strata)
    if len(labels) <= 1:  # one stratum: the draw itself, no scatter
        idx[1:] = rng.integers(0, n, size=(replicates, n), dtype=np.int32)
        return idx
    for stratum in labels:
        pos = np.flatnonzero(strata == stratum).astype(np.int32)
        idx[1:, pos] = pos[rng.integers(0, len(pos), size=(replicates, len(pos)), dtype=np.int32)]
    return idx


def draw_seeds(key: str, n_seeds: int, replicates: int, seed: int) -> np.ndarray:
    """Seed positions ``(replicates + 1, n_seeds)``, row 0 the identity."""
    rng = _rng(seed, f"seeds/{key}")
    return np.vstack([np.arange(n_seeds), rng.integers(0, n_seeds, (replicates, n_seeds))])


def counts(idx: np.ndarray) -> np.ndarray:
    """How often each item is drawn in each replicate: ``(replicates + 1, n)`` floats."""
    r, n = idx.shape
    flat = (idx.astype(np.int64) + (np.arange(r, dtype=np.int64) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=r * n).reshape(r, n).astype(float)


def weighted_sums(idx: np.ndarray, columns: np.ndarray, chunk: int = 128) -> np.ndarray:
    """``counts(idx) @ columns``: the sum of each column over each replicate's draw.

    Blocks of replicates bound the memory. Many columns (every model of an item set) go
    through the count matrix, one BLAS product for all; a few (one dataset's metrics) are
    gathered and summed directly, two columns per complex gather (real and imaginary
    parts add separately, so the sums are the same), and a constant column is its value
    times the draw size.
    """
    n, k = idx.shape[1], columns.shape[1]
    out = np.empty((idx.shape[0], k))
    if k > GATHER_COLUMNS:
        for start in range(0, idx.shape[0], chunk):
            out[start : start + chunk] = counts(idx[start : start + chunk]) @ columns
        return out
    varying = [j for j in range(k) if np.ptp(columns[:, j]) > 0]
    for j in set(range(k)) - set(varying):
        out[:, j] = columns[0, j] * n
    pairs = [varying[i : i + 2] for i in range(0, len(varying), 2)]
    packed = [columns[:, p[0]] + 1j * (columns[:, p[1]] if len(p) > 1 else 0.0) for p in pairs]
    for start in range(0, idx.shape[0], chunk):
        block = idx[start : start + chunk]
        for p, column in zip(pairs, packed, strict=True):
            total = np.take(column, block).sum(axis=1)
            out[start : start + chunk, p[0]] = total.real
            if len(p) > 1:
                out[start : start + chunk, p[1]] = total.imag
    return out


def _cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _available_memory() -> int | None:
    """Bytes the system can still give this process (Linux's MemAvailable), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _memory_needed(
    items: Mapping[ExtrinsicRow, ItemScores],
    n_rows: Sequence[int],
    n_cells: int,
    n_teachers: int,
    replicates: int,
    workers: int,
    keep_draws: bool,
) -> int:
    """A rough peak of the arrays a bootstrap holds, in bytes (all scale with replicates).

    Draw positions (int32, ``workers`` item sets at once, all of them with
    ``keep_draws``), the weighted sums of every model and seed (float64), the
    replicate arrays of every benchmark row and score cell, and the pairwise rank
    comparison of a family's teachers (``teachers^2`` bytes-heavy temporaries).
    """
    sizes = sorted([len(it.doc_ids) for it in items.values()] + list(n_rows), reverse=True)
    draws = sum(sizes if keep_draws else sizes[: max(1, workers)]) * 4
    columns = sum(it.columns().shape[1] for it in items.values()) + 4 * len(n_rows)
    arrays = 8 * (columns + 2 * len(items) + 10 * n_cells)
    ranks = 20 * n_teachers**2
    return (replicates + 1) * (draws + arrays + ranks)


def _check_memory(needed: int, replicates: int) -> None:
    """Refuse a replicate count the machine cannot hold, before drawing anything.

    Why: numpy would fail mid-run with a traceback (or the OS kill the process) after
    the reading; one line saying how much is needed is what the user can act on.
    """
    available = _available_memory()
    if available is not None and needed > available:
        raise ConfigError(
            f"bootstrap: {replicates} replicates need about {needed / 2**30:.1f} GiB of "
            f"memory, {available / 2**30:.1f} GiB is available; use fewer replicates "
            f"(default {REPLICATES})"
        )


Task = tuple[str, np.ndarray, np.ndarray]  # (draw key, strata, item columns)


def _run_draws(
    tasks: Sequence[Task], replicates: int, seed: int, workers: int, saved: dict | None
) -> list[np.ndarray]:
    """Weighted sums of every draw set, sets spread over threads (numpy's generators,
    bincount and BLAS release the GIL); a draw depends on its key only, never on the
    thread or the order, so the result is the same with any number of workers."""
    from concurrent.futures import ThreadPoolExecutor

    def one(task: Task) -> np.ndarray:
        key, strata, columns = task
        idx = draw_indices(key, strata, replicates, seed)
        if saved is not None:
            saved[key] = idx
        return weighted_sums(idx, columns)

    if workers <= 1 or len(tasks) <= 1:
        return [one(task) for task in tasks]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, tasks))


# ---- the run -------------------------------------------------------------------------
@dataclass
class BootstrapResult:
    """Replicates and intervals of one run (replicate 0 of every array is the point)."""

    replicates: int
    seed: int
    level: float
    pairing: str
    samples: dict[tuple[str, str, str], dict[str, np.ndarray]]  # (family, teacher, lang)
    rows: list[dict[str, Any]]  # intervals.jsonl
    ranks: dict[str, Any]  # ranks.json
    draw_keys: dict[Any, str] = field(default_factory=dict)  # ExtrinsicRow / Cell -> key
    draws: dict[str, np.ndarray] = field(default_factory=dict)  # key -> positions (keep_draws)


def _draw_items(
    items: Mapping[ExtrinsicRow, ItemScores],
    replicates: int,
    seed: int,
    pairing: str,
    workers: int,
    saved: dict[str, np.ndarray] | None,
) -> tuple[dict[ExtrinsicRow, np.ndarray], dict[Any, str]]:
    """Replicate scores ``(replicates + 1,)`` of every benchmark row with items."""
    sets: dict[str, list[ExtrinsicRow]] = defaultdict(list)
    for row, it in items.items():
        if pairing == "paired":
            shape = hashlib.sha256(it.doc_ids.tobytes() + it.strata.tobytes()).hexdigest()[:16]
            key = f"items/{row.benchmark}/{row.language}/{shape}"
        else:
            key = f"items/{row.role}/{family_key(row.student_family)}/{row.teacher}/{row.benchmark}/{row.language}"  # fmt: skip
        sets[key].append(row)
    tasks = [
        (key, items[rows[0]].strata, np.hstack([items[r].columns() for r in rows]))
        for key, rows in sets.items()
    ]
    out, keys = {}, {}
    for (key, _, _), sums in zip(tasks, _run_draws(tasks, replicates, seed, workers, saved), strict=True):  # fmt: skip
        start = 0
        for row in sets[key]:
            width = items[row].columns().shape[1]
            per_seed = items[row].from_sums(sums[:, start : start + width])
            start += width
            if per_seed.shape[1] > 1:
                picks = draw_seeds(f"{key}/{row.source}", per_seed.shape[1], replicates, seed)
                per_seed = np.take_along_axis(per_seed, picks, axis=1)
            out[row], keys[row] = per_seed.mean(axis=1), key
            out[row][0] = row.score  # exactly the point the scorer uses
    return out, keys


def _row_means(
    row: IntrinsicRow, sums: np.ndarray | None, metrics: list[str]
) -> tuple[dict[str, np.ndarray | None], list[str]]:
    """Replicate dataset means of the resampled metrics (summary values for the rest)."""
    means: dict[str, np.ndarray | None] = {m: getattr(row, m) for m in ROW_METRICS}
    done = []
    for i, m in enumerate(metrics):
        reps = sums[:, 2 * i] / sums[:, 2 * i + 1]  # type: ignore[index]
        stated = getattr(row, m)
        if not math.isclose(reps[0], stated, rel_tol=1e-9):
            logger.warning("bootstrap: %s: per-row %s average %.6g, the summary says %.6g; "
                           "held at the summary value", row.source, m, reps[0], stated)  # fmt: skip
            continue
        reps[0] = stated
        means[m], done = reps, [*done, m]
    return means, done


def _z_samples(
    point: Sequence[ScoreRow],
    intrinsic: Sequence[IntrinsicRow],
    row_values: Mapping[tuple[str, str], Mapping[str, np.ndarray] | None],
    replicates: int,
    seed: int,
    workers: int,
    saved: dict[str, np.ndarray] | None,
) -> tuple[dict[tuple[str, str], np.ndarray], dict[tuple[str, str], list[str]], dict]:
    """z replicates per (teacher key, language): the scaler refit per replicate."""
    scored = {(teacher_key(r.teacher), r.language) for r in point}
    kept = [r for r in intrinsic if (teacher_key(r.teacher), r.language.lower()) in scored]
    columns = fit_z_scores(kept).columns if kept else ()
    if not columns:
        return {}, {}, {}
    cells = [(teacher_key(r.teacher), r.language.lower()) for r in kept]
    keys = {cell: f"rows/{cell[0]}/{cell[1]}" for cell in cells}
    plans, tasks = [], []
    for row, cell in zip(kept, cells, strict=True):
        values = row_values.get(cell) or {}
        metrics = [m for m in ROW_METRICS if getattr(row, m) is not None
                   and values.get(m) is not None and np.isfinite(values[m]).any()]  # fmt: skip
        plans.append(metrics)
        if metrics:  # per metric: sum over rows with a value, and how many rows have one
            ok = [np.isfinite(values[m]) for m in metrics]
            parts = [c for m, k in zip(metrics, ok, strict=True) for c in (np.where(k, values[m], 0.0), k)]  # fmt: skip
            tasks.append((keys[cell], np.zeros(len(ok[0]), int), np.column_stack(parts).astype(float)))  # fmt: skip
    sums = iter(_run_draws(tasks, replicates, seed, workers, saved))
    stack, measured, resampled = [], [], {}
    for row, cell, metrics in zip(kept, cells, plans, strict=True):
        means, resampled[cell] = _row_means(row, next(sums) if metrics else None, metrics)
        cols = intrinsic_columns(
            row.prompt_diversity, row.response_diversity, means["rubric_score"], means["perplexity"]
        )
        stack.append([np.broadcast_to(np.nan if cols[c] is None else cols[c], replicates + 1)
                      for c in columns])  # fmt: skip
        measured.append([cols[c] is not None for c in columns])
    values = np.transpose(np.array(stack, dtype=float), (2, 0, 1))  # replicate, cell, column
    measured = np.array(measured)  # NaN left elsewhere (a replicate of rows without values)
    z = standardised_mean(np.where(measured, values, 0.0), measured)  # makes that z NaN
    return {c: z[:, i] for i, c in enumerate(cells)}, resampled, keys


def _anchors(extrinsic: Sequence[ExtrinsicRow]) -> dict[tuple, dict[str, ExtrinsicRow]]:
    """Benchmark rows by (role, family key, teacher key, language), as score_run groups them."""
    out: dict[tuple, dict[str, ExtrinsicRow]] = defaultdict(dict)
    for r in extrinsic:
        if r.role != "student":
            out[(r.role, family_key(r.student_family), None, r.language.lower())][r.benchmark] = r
        elif r.language.lower() == (r.target_language or "").lower():
            key = ("student", family_key(r.student_family), teacher_key(r.teacher or ""))
            out[(*key, r.language.lower())][r.benchmark] = r
    return out


def bootstrap_scores(
    extrinsic: Sequence[ExtrinsicRow],
    intrinsic: Sequence[IntrinsicRow] | None = None,
    *,
    items: Mapping[ExtrinsicRow, ItemScores | None],
    row_values: Mapping[tuple[str, str], Mapping[str, np.ndarray] | None] | None = None,
    replicates: int = REPLICATES,
    seed: int = 0,
    pairing: str = "paired",
    level: float = LEVEL,
    policy: GapPolicy | None = None,
    keep_draws: bool = False,
    workers: int | None = None,
) -> BootstrapResult:
    """Bootstrap every score row of a run from in-memory inputs (see the module docstring).

    Args:
        extrinsic, intrinsic, policy: what :func:`score_run` takes.
        items: per-item outputs of benchmark rows; a row without (None or absent) is fixed.
        row_values: per-row intrinsic values (``perplexity``, ``rubric_score``) per
            (teacher key, language) cell; a cell without keeps its summary values.
        replicates, seed: how many draws, from which seed (every draw is a function of
            the seed and its key, :attr:`BootstrapResult.draw_keys`).
        pairing: ``paired`` or ``independent`` item draws (module docstring).
        level: of the intervals and of the rank stability.
        keep_draws: keep every drawn position array in :attr:`BootstrapResult.draws`.
        workers: threads drawing in parallel (default: the CPUs this process may use).

    Raises:
        ConfigError: bad settings, more replicates than the memory holds (checked before
            drawing), or replicate 0 does not reproduce the scorer's rows.
    """
    if pairing not in PAIRINGS:
        raise ConfigError(f"pairing {pairing!r} is unknown; choose one of {', '.join(PAIRINGS)}")
    if isinstance(replicates, bool) or not isinstance(replicates, int) or replicates < 2:
        raise ConfigError(f"replicates must be an integer >= 2, got {replicates!r}")
    if not 0 < level < 1 or isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"need 0 < level < 1 and an integer seed >= 0 (got {level}, {seed!r})")
    policy = policy or GapPolicy()
    point = score_run(extrinsic, intrinsic, policy=policy)
    draws: dict[str, np.ndarray] | None = {} if keep_draws else None
    kept = {r: it for r, it in items.items() if it is not None}
    workers = workers or _cpus()
    n_rows = [len(next(iter(vs.values()))) for vs in (row_values or {}).values() if vs]
    teachers = max(Counter(f for f, _ in {(r.student_family, r.teacher) for r in point}).values(), default=0)  # fmt: skip
    needed = _memory_needed(kept, n_rows, len(point), teachers, replicates, workers, keep_draws)
    _check_memory(needed, replicates)
    try:
        reps, keys = _draw_items(kept, replicates, seed, pairing, workers, draws)
        z, rows_resampled, row_keys = _z_samples(
            point, intrinsic or [], row_values or {}, replicates, seed, workers, draws
        )
    except MemoryError as exc:  # the estimate above is rough: the same one line, late
        raise ConfigError(
            f"bootstrap: out of memory drawing {replicates} replicates ({exc}); use fewer "
            f"replicates (default {REPLICATES})"
        ) from None
    groups = _anchors(extrinsic)
    samples, out_rows = {}, []
    for row in point:
        cell_key = (teacher_key(row.teacher), row.language)
        roles = _roles(groups, row)
        cell = _cell_samples(row, roles, reps, z.get(cell_key), replicates, policy)
        _check_point(row, cell)
        samples[(row.student_family, row.teacher, row.language)] = cell
        resampled: dict[str, Any] = {"items": {}, "items_fixed": {}}
        for role, rows in roles.items():
            resampled["items"][role] = [r.benchmark for r in rows if r in reps]
            resampled["items_fixed"][role] = [r.benchmark for r in rows if r not in reps]
        if "z_score" in cell:
            done = rows_resampled.get(cell_key, [])
            resampled["intrinsic_rows"] = done
            resampled["intrinsic_fixed"] = [
                c for c in ("prompt_diversity", "response_diversity", *ROW_METRICS) if c not in done
            ]
        out_rows.append(_interval_row(row, cell, resampled, replicates, seed, level, pairing))
    keys |= row_keys
    ranks = rank_table(point, samples, level=level)
    ranks |= {"replicates": replicates, "seed": seed, "level": level, "pairing": pairing}
    return BootstrapResult(
        replicates, seed, level, pairing, samples, out_rows, ranks, keys, draws or {}
    )


def _roles(groups: Mapping[tuple, dict[str, ExtrinsicRow]], row: ScoreRow) -> dict[str, list]:
    """The benchmark rows of a score row's student, base and reference (as score_run)."""
    fam, lang = family_key(row.student_family), row.language
    found = {"student": groups[("student", fam, teacher_key(row.teacher), lang)]}
    for role in ("base", "reference"):
        found[role] = groups.get((role, fam, None, lang)) or groups[(role, SHARED_FAMILY, None, lang)]  # fmt: skip
    return {role: [g[b] for b in sorted(g) if b in row.benchmarks] for role, g in found.items()}


def _cell_samples(
    row: ScoreRow,
    roles: Mapping[str, list[ExtrinsicRow]],
    reps: Mapping[ExtrinsicRow, np.ndarray],
    z: np.ndarray | None,
    replicates: int,
    policy: GapPolicy,
) -> dict[str, np.ndarray]:
    """One cell's replicates through the scorer's formulas (a fixed score: its value)."""
    s, b, ref = (
        np.mean([reps.get(r, np.full(replicates + 1, r.score)) for r in roles[role]], axis=0)
        for role in ("student", "base", "reference")
    )
    cell = {"student_score": s, "pgr": pgr_formula(s, b, ref),
            "headroom_gain": headroom_formula(s, b, policy.ceiling)}  # fmt: skip
    if z is not None or row.z_score is not None:
        cell["z_score"] = np.full(replicates + 1, np.nan) if z is None else z
        cell["pg_score"] = pg_formula(cell["pgr"], cell["z_score"])
    return cell


def _check_point(row: ScoreRow, cell: Mapping[str, np.ndarray]) -> None:
    """Replicate 0 must be the scorer's row: the same inputs through the same formulas."""
    for name, reps in cell.items():
        want = getattr(row, name)
        got = None if not np.isfinite(reps[0]) else float(reps[0])
        if (want is None) != (got is None) or (
            want is not None and not math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12)
        ):
            raise ConfigError(
                f"bootstrap: {name} of {row.teacher} {row.language} {row.student_family} is "
                f"{got} at the point draw but {want} in the scorer; the bootstrap and "
                "harness.score.pgscore disagree (a bug: please report it)"
            )


def _interval_row(row: ScoreRow, cell, resampled, replicates, seed, level, pairing) -> dict:
    out: dict[str, Any] = {
        "teacher": row.teacher, "language": row.language, "student_family": row.student_family,
        "protocol": getattr(row, "protocol", None),
    }  # fmt: skip
    for name in INTERVAL_VALUES:
        reps = cell.get(name)
        interval = None if reps is None else percentile_interval(reps[1:], level)
        out[name] = getattr(row, name)
        out[f"{name}_lo"], out[f"{name}_hi"] = interval or (None, None)
        finite = 0 if reps is None else int(np.isfinite(reps[1:]).sum())
        if reps is not None and finite < replicates:
            out[f"{name}_finite"] = finite
    return out | {"replicates": replicates, "seed": seed, "level": level, "pairing": pairing,
                  "resampled": resampled}  # fmt: skip


def write_bootstrap(result: BootstrapResult, folder: str | Path) -> tuple[Path, Path]:
    """Write ``intervals.jsonl`` and ``ranks.json`` into ``folder`` (beside scores.jsonl)."""
    from harness.files import atomic_write_text

    folder = Path(folder)
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in result.rows)
    intervals = atomic_write_text(folder / INTERVALS_FILE, text)
    ranks = atomic_write_text(folder / RANKS_FILE, json.dumps(result.ranks, indent=1) + "\n")
    return intervals, ranks


def bootstrap_run(
    extrinsic: str | Path | Sequence[ExtrinsicRow],
    intrinsic: str | Path | Sequence[IntrinsicRow] | None = None,
    *,
    out: str | Path | None = None,
    replicates: int = REPLICATES,
    seed: int = 0,
    pairing: str = "paired",
    level: float = LEVEL,
    policy: GapPolicy | None = None,
    keep_draws: bool = False,
    workers: int | None = None,
) -> BootstrapResult:
    """Bootstrap a scored run from the score stage's inputs and write the two files.

    Args:
        extrinsic: the score stage's ``--extrinsic`` (path) or its rows; lm-eval rows
            find their ``samples_*.jsonl`` beside their results file.
        intrinsic: ``--intrinsic`` (path) or its rows; ``rows.parquet`` beside each
            summary gives the per-row values.
        out: folder for ``intervals.jsonl`` and ``ranks.json`` (None: write nothing).
        replicates, seed, pairing, level, policy, keep_draws, workers: see
            :func:`bootstrap_scores`.
    """
    from harness.score.inputs import read_extrinsic, read_intrinsic

    ext = read_extrinsic(extrinsic) if isinstance(extrinsic, (str, Path)) else list(extrinsic)
    intr = read_intrinsic(intrinsic) if isinstance(intrinsic, (str, Path)) else intrinsic
    used = [r for r in ext if r.role != "student" or r.language.lower() == (r.target_language or "").lower()]  # fmt: skip
    items = {r: read_items(r) for r in used}
    row_values = {(teacher_key(r.teacher), r.language.lower()): read_row_values(r) for r in intr or []}  # fmt: skip
    missing = sorted({f"{r.role} {r.student_family} {r.benchmark}_{r.language}"
                      for r, it in items.items() if it is None})  # fmt: skip
    if missing:
        logger.warning("bootstrap: no per-item outputs for %d score(s), held fixed: %s",
                       len(missing), ", ".join(missing[:5]))  # fmt: skip
    result = bootstrap_scores(
        ext, intr, items=items, row_values=row_values, replicates=replicates, seed=seed,
        pairing=pairing, level=level, policy=policy, keep_draws=keep_draws, workers=workers,
    )  # fmt: skip
    if out is not None:
        write_bootstrap(result, out)
    return result
