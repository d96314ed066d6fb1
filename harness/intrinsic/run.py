"""The intrinsic stage: every metric of every collected dataset, cached and resumable.

A full run (thousands of judge generations, perplexity under a 4B model, 8B embeddings)
takes hours, so each (dataset, metric) result is its own cache file, written atomically
and keyed by a fingerprint of the input file's content and of the metric's parameters;
the judge also saves its rows chunk by chunk, so a kill costs at most one chunk. A rerun,
or a run resumed after Ctrl-C, recomputes only what is missing or stale; a metric can
be computed alone (``metrics=("judge",)``) and joins the others in the summary.

Layout under ``out_dir``::

    <teacher>/<lang>/<metric>.json            dataset-level values + cache key
    <teacher>/<lang>/<metric>_rows.parquet    per-row values, where a metric has them
    <teacher>/<lang>/.judge.partial.jsonl     judgements of an unfinished judge run (resume)
    summary.jsonl                             one row per (teacher, language)
    rows.parquet                              per valid row: perplexity, rubric, lengths

Metrics are computed on valid rows only (the rows a student is trained on); validity
and the language-match rate are counted on all rows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, InputNotFoundError
from harness.files import atomic_write, atomic_write_text
from harness.intrinsic.compute import (
    METRICS,
    DatasetRows,
    IntrinsicOptions,
    Resources,
    check_models,
    compute_metric,
    fingerprint_file,
    missing_requirement,
    params_for,
)
from harness.jsonl import read_jsonl
from harness.schema import DATA_FILE, read_collected

logger = logging.getLogger(__name__)

CACHE_VERSION = 1
SUMMARY_FILE = "summary.jsonl"
ROWS_FILE = "rows.parquet"

# Summary keys in table order; metric caches contribute the values.
SUMMARY_KEYS: tuple[str, ...] = (
    "teacher", "language", "n_rows", "n_valid", "valid_rate", "language_match_rate",
    "prompt_diversity", "response_diversity", "perplexity", "rubric_score",
    "judge_parse_rate", "prompt_length", "response_length", "duplicate_rate",
    "near_duplicate_rate", "contamination_rate",
)  # fmt: skip
_SUMMARY_COLUMNS = ["teacher", "seed_id", "valid"]  # what the summary reads of each dataset
ROW_COLUMNS: tuple[str, ...] = (
    "teacher", "language", "seed_id", "row_index", "perplexity", "rubric_score",
    "rubric_feedback", "prompt_length", "response_length",
)  # fmt: skip


@dataclass(frozen=True)
class DatasetRef:
    """One collected dataset found under the data folder."""

    teacher_slug: str
    language: str
    path: Path  # the data.parquet

    @property
    def name(self) -> str:
        return f"{self.teacher_slug}/{self.language}"


def discover_datasets(data_dir: str | Path) -> list[DatasetRef]:
    """Every ``<teacher>/<lang>/data.parquet`` under ``data_dir`` (or the one dataset it is).

    Raises:
        InputNotFoundError: the folder is missing or holds no collected dataset.
    """
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise InputNotFoundError(f"data folder {root} does not exist")
    if (root / DATA_FILE).is_file():  # a single <teacher>/<lang> folder
        return [DatasetRef(root.parent.name, root.name, root / DATA_FILE)]
    found = sorted(root.glob(f"*/*/{DATA_FILE}"))
    if not found:
        raise InputNotFoundError(
            f"no collected datasets under {root}: expected <teacher>/<lang>/{DATA_FILE}"
        )
    return [DatasetRef(p.parent.parent.name, p.parent.name, p) for p in found]


def _jsonable(value: Any) -> Any:
    """NaN/inf become null, so every file we write is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _cache_key(input_fp: str, metric: str, params: dict[str, Any]) -> str:
    blob = json.dumps([CACHE_VERSION, input_fp, metric, params], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _read_cache(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _write_cache(
    folder: Path, metric: str, record: dict[str, Any], rows: dict[str, list] | None
) -> None:
    if rows is not None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        # The cache key rides along, so rows from an interrupted recompute (new rows
        # file, old JSON) are never joined to the old values.
        table = pa.table(rows).replace_schema_metadata({"polyglot_cache_key": record["key"]})
        atomic_write(folder / f"{metric}_rows.parquet", lambda p: pq.write_table(table, p))
    text = json.dumps(_jsonable(record), ensure_ascii=False, indent=1, sort_keys=True)
    # The JSON is written last: it is the commit marker that makes the rows file count.
    atomic_write_text(folder / f"{metric}.json", text)


def compute_intrinsic(
    data_dir: str | Path,
    out_dir: str | Path,
    *,
    options: IntrinsicOptions | None = None,
    progress: bool = True,
    **kwargs: Any,
) -> Path:
    """Compute the intrinsic metrics of every collected dataset and write the summaries.

    Args:
        data_dir: Folder of ``<teacher>/<lang>/data.parquet`` (or one such folder).
        out_dir: Where caches, ``summary.jsonl`` and ``rows.parquet`` go.
        options: An :class:`IntrinsicOptions`; or pass its fields as keyword arguments
            (``metrics=("lengths",)``, ``reference_lm=...``, ``judge=...``).
        progress: Show a tqdm bar over datasets x metrics.

    Returns:
        The path of ``summary.jsonl``.

    Raises:
        InputNotFoundError: no datasets under ``data_dir``.
        EmptyDataError: a ``data.parquet`` holds no rows.
        ConfigError: bad options.
    """
    from tqdm.auto import tqdm

    if options is None:
        options = IntrinsicOptions(
            **{k: tuple(v) if k == "metrics" else v for k, v in kwargs.items()}
        )
    elif kwargs:
        raise ConfigError(f"pass either options or keyword options, not both: {sorted(kwargs)}")
    out = Path(out_dir)
    datasets = discover_datasets(data_dir)
    plan: list[str] = []
    for metric in options.metrics:
        reason = missing_requirement(metric, options)
        if reason:
            print(f"skipping {metric}: {reason}")
        else:
            plan.append(metric)
    # Plan first: what is cached, what is not; then check the models the rest needs, so
    # a model that will not load fails in one line before hours of other metrics.
    todo: list[tuple[DatasetRef, str, str, dict[str, Any], str]] = []
    cached = 0
    for ref in datasets:
        read_collected(ref.path, _SUMMARY_COLUMNS)  # a broken file fails now, not at the end
        folder = out / ref.teacher_slug / ref.language
        input_fp = fingerprint_file(ref.path)
        for metric in plan:
            params = params_for(metric, options, ref.language)
            key = _cache_key(input_fp, metric, params)
            old = _read_cache(folder / f"{metric}.json")
            if old is not None and old.get("key") == key:
                cached += 1
            else:
                todo.append((ref, metric, input_fp, params, key))
    check_models(sorted({metric for _, metric, *_ in todo}), options)
    resources = Resources(options)
    computed = 0
    loaded: tuple[DatasetRef, DatasetRows] | None = None
    with tqdm(total=len(todo), desc="intrinsic", disable=not progress) as bar:
        for ref, metric, input_fp, params, key in todo:
            bar.set_postfix_str(f"{ref.name} {metric}")
            folder = out / ref.teacher_slug / ref.language
            if loaded is None or loaded[0] != ref:
                loaded = (ref, DatasetRows.read(ref.path, ref.language, limit=options.limit))
            partial = folder / f".{metric}.partial.jsonl"
            resume_key = _cache_key(input_fp, metric, {**params, "limit": None})
            values, rows = compute_metric(
                metric, loaded[1], resources, resume=(partial, resume_key)
            )
            record = {
                "metric": metric,
                "key": key,
                "input": input_fp,
                "params": params,
                "values": values,
            }
            _write_cache(folder, metric, record, rows)
            partial.unlink(missing_ok=True)  # the cache now holds every row
            computed += 1
            logger.info("computed %s for %s", metric, ref.name)
            bar.update()
    logger.info("intrinsic: %d computed, %d cached", computed, cached)
    summary = write_summary(datasets, out, limit=options.limit)
    return summary


def _dataset_summary(ref: DatasetRef, folder: Path, limit: int | None) -> tuple[dict, list[dict]]:
    """Summary row and per-row records of one dataset from its valid caches."""
    import pyarrow.parquet as pq

    table = read_collected(ref.path, _SUMMARY_COLUMNS).to_pydict()
    n = len(table["valid"]) if limit is None else min(limit, len(table["valid"]))
    teachers = {t for t in table["teacher"][:n] if t}
    summary: dict[str, Any] = {
        "teacher": teachers.pop() if len(teachers) == 1 else ref.teacher_slug,
        "language": ref.language,
        "n_rows": n,
        "n_valid": sum(bool(v) for v in table["valid"][:n]),
    }
    per_row: dict[int, dict[str, Any]] = {
        i: {
            "teacher": summary["teacher"],
            "language": ref.language,
            "seed_id": table["seed_id"][i],
            "row_index": i,
        }
        for i in range(n)
        if table["valid"][i]
    }
    input_fp = fingerprint_file(ref.path)
    for metric in METRICS:
        record = _read_cache(folder / f"{metric}.json")
        if record is None:
            continue
        if record.get("input") != input_fp or record.get("params", {}).get("limit") != limit:
            logger.warning(
                "ignoring the %s cache of %s: computed on another input file or --limit",
                metric,
                ref.name,
            )
            continue
        summary.update(record.get("values", {}))
        rows_file = folder / f"{metric}_rows.parquet"
        if rows_file.is_file():
            rows_table = pq.read_table(rows_file)
            if (rows_table.schema.metadata or {}).get(b"polyglot_cache_key") != str(
                record.get("key")
            ).encode():
                logger.warning("ignoring %s: it does not match %s.json", rows_file, metric)
                continue
            cols = rows_table.to_pydict()
            for j, i in enumerate(cols.pop("row_index")):
                if i in per_row:
                    per_row[i].update({k: v[j] for k, v in cols.items()})
    return summary, list(per_row.values())


def write_summary(
    datasets: Sequence[DatasetRef], out_dir: Path, *, limit: int | None = None
) -> Path:
    """Join the caches into ``summary.jsonl`` and ``rows.parquet``; returns the summary path.

    Any cache computed on the current input file counts, whatever run wrote it, so a
    metric computed alone later joins the ones computed before.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    summaries, rows = [], []
    for ref in datasets:
        summary, per_row = _dataset_summary(ref, out_dir / ref.teacher_slug / ref.language, limit)
        summaries.append({k: summary.get(k) for k in SUMMARY_KEYS} | summary)
        rows.extend(per_row)
    text = "".join(json.dumps(_jsonable(s), ensure_ascii=False) + "\n" for s in summaries)
    path = out_dir / SUMMARY_FILE
    atomic_write_text(path, text)
    columns = {c: [r.get(c) for r in rows] for c in ROW_COLUMNS}
    schema = pa.schema(
        [(c, pa.string()) for c in ("teacher", "language", "seed_id")]
        + [("row_index", pa.int64()), ("perplexity", pa.float64()), ("rubric_score", pa.int64()),
           ("rubric_feedback", pa.string()), ("prompt_length", pa.int64()), ("response_length", pa.int64())]
    )  # fmt: skip
    table = pa.table(columns, schema=schema)
    atomic_write(out_dir / ROWS_FILE, lambda p: pq.write_table(table, p))
    return path


def read_summary(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a ``summary.jsonl`` (or of the one in a folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / SUMMARY_FILE
    if not path.is_file():
        raise InputNotFoundError(f"no intrinsic summary at {path}")
    return [obj for _, obj in read_jsonl(path)]


def format_table(summaries: Sequence[dict[str, Any]]) -> str:
    """A terminal table of the headline columns (None shows as '-')."""
    from tabulate import tabulate

    cols = [
        ("teacher", "teacher"), ("language", "lang"), ("n_valid", "valid"), ("valid_rate", "valid%"),
        ("language_match_rate", "lang%"), ("prompt_diversity", "p_div"), ("response_diversity", "r_div"),
        ("perplexity", "ppl"), ("rubric_score", "rubric"), ("judge_parse_rate", "parsed%"),
        ("prompt_length", "p_len"), ("response_length", "r_len"), ("duplicate_rate", "dup%"),
    ]  # fmt: skip
    table = [[s.get(k) for k, _ in cols] for s in summaries]
    return tabulate(table, headers=[h for _, h in cols], floatfmt=".3g", missingval="-")
