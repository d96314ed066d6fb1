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
    <teacher>/<lang>/.fluency.partial-*.db    lm-eval's request cache of an unfinished
                                              fluency run on the lm-eval path (resume)
    summary.jsonl                             one row per (teacher, language)
    rows.parquet                              per measured row: perplexity, rubric, lengths

Metrics are computed on the protocol's balanced subsample of the valid rows (the rows a
student is trained on; :mod:`harness.intrinsic.compute`); validity and the language-match
rate are counted on all rows. Every summary row records the protocol (with the run's
deviations from it), the subsample size and its rows per strategy. Caches of metrics
whose values differ between protocols (fluency, the judge's mean) are keyed on the
protocol's rule, so switching protocol never serves the other rule's value; judgements
themselves are rescored from the cache, not re-judged.

Metrics come from the registry (:mod:`harness.intrinsic.metric`): a plugin metric is
cached, resumed and joined like a built-in; its summary fields follow the built-ins'.
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
from harness.files import atomic_write, atomic_write_text, read_jsonl
from harness.intrinsic.builtin import METRICS
from harness.intrinsic.compute import (
    DatasetRows,
    IntrinsicOptions,
    Resources,
    Reuse,
    check_models,
    compute_metric,
    deviations,
    fingerprint_file,
    get_metric,
    missing_requirement,
    params_for,
    protocol_params,
    row_params,
)
from harness.intrinsic.metric import IntrinsicMetric, available_metrics
from harness.intrinsic.subsample import Selection, select_rows
from harness.protocol import resolve
from harness.schema import DATA_FILE, read_collected

logger = logging.getLogger(__name__)

CACHE_VERSION = 2  # 2: protocol-keyed fluency and judge, subsampled rows
SUMMARY_FILE = "summary.jsonl"
ROWS_FILE = "rows.parquet"

# Summary keys in table order; metric caches contribute the values.
SUMMARY_KEYS: tuple[str, ...] = (
    "teacher", "language", "n_rows", "n_valid", "subsample_size", "valid_rate",
    "language_match_rate",
    "prompt_diversity", "response_diversity", "perplexity", "rubric_score",
    "judge_parse_rate", "prompt_length", "response_length", "duplicate_rate",
    "near_duplicate_rate", "contamination_rate", "protocol",
)  # fmt: skip
# What the summary reads of each dataset.
_SUMMARY_COLUMNS = ["teacher", "seed_id", "valid", "strategy"]
ROW_COLUMNS: tuple[str, ...] = (
    "teacher", "language", "seed_id", "row_index", "perplexity", "rubric_score",
    "rubric_parsed", "rubric_feedback", "prompt_length", "response_length",
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
    for metric in options.metric_names():
        reason = missing_requirement(metric, options)
        if reason:
            logger.info("skipping %s: %s", metric, reason)
        else:
            plan.append(metric)
    # Plan first: what is cached, what is not; then check the models the rest needs, so
    # a model that will not load fails in one line before hours of other metrics.
    todo: list[tuple[DatasetRef, str, str, dict[str, Any], str]] = []
    cached = 0
    for ref in datasets:
        # A broken file fails now, not at the end; the rows measured are known before work.
        table = read_collected(ref.path, _SUMMARY_COLUMNS).to_pydict()
        rows_key = select_rows(table, limit=options.limit, all_rows=options.all_rows).key
        folder = out / ref.teacher_slug / ref.language
        input_fp = fingerprint_file(ref.path)
        for metric in plan:
            params = params_for(metric, options, ref.language, rows_key)
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
                data = DatasetRows.read(
                    ref.path, ref.language, limit=options.limit, all_rows=options.all_rows
                )
                loaded = (ref, data)
            partial = folder / f".{metric}.partial.jsonl"
            row_key = _cache_key(input_fp, metric, row_params(params))
            values, rows = compute_metric(
                metric,
                loaded[1],
                resources,
                resume=(partial, row_key),
                reuse=_reusable_judgements(folder, row_key) if metric == "judge" else None,
            )
            record = {
                "metric": metric,
                "key": key,
                "row_key": row_key,
                "input": input_fp,
                "params": params,
                "protocol": options.protocol,
                "deviations": deviations(metric, options),
                "values": values,
            }
            _write_cache(folder, metric, record, rows)
            for left in folder.glob(f".{metric}.partial*"):  # the cache now holds every row
                left.unlink(missing_ok=True)
            computed += 1
            logger.info("computed %s for %s", metric, ref.name)
            bar.update()
    logger.info("intrinsic: %d computed, %d cached", computed, cached)
    summary = write_summary(datasets, out, options=options)
    return summary


def _reusable_judgements(folder: Path, row_key: str) -> Reuse | None:
    """Raw judgements of the judge cache in ``folder``, if judged as ours would be.

    A cache computed under the other protocol's rule for unparseable judgements (or on
    another subsample) holds judgements this run would make too: they are rescored, so
    switching protocol costs no judge time.
    """
    import pyarrow.parquet as pq

    record = _read_cache(folder / "judge.json")
    rows_file = folder / "judge_rows.parquet"
    if record is None or record.get("row_key") != row_key or not rows_file.is_file():
        return None
    table = pq.read_table(rows_file)
    if (table.schema.metadata or {}).get(b"polyglot_cache_key") != str(record["key"]).encode():
        return None
    cols = table.to_pydict()
    return dict(zip(cols["row_index"], cols["judge_raw_output"], strict=True))


def _usable(
    record: dict[str, Any], metric: str, selection: Selection, options: IntrinsicOptions
) -> str | None:
    """Why a cache on the current input cannot join this summary, or None if it can."""
    params = record.get("params", {})
    if params.get("limit") != options.limit:
        return "computed with another --limit"
    if not get_metric(metric, options).every_row and params.get("rows") != selection.key:
        return "computed on other rows (subsample or --all-rows)"
    wanted = protocol_params(metric, options.protocol, options)
    if any(params.get(k) != v for k, v in wanted.items()):
        return f"computed under another protocol than {options.protocol}"
    return None


def _dataset_summary(
    ref: DatasetRef, folder: Path, options: IntrinsicOptions
) -> tuple[dict, list[dict]]:
    """Summary row and per-row records of one dataset from its valid caches."""
    import pyarrow.parquet as pq

    table = read_collected(ref.path, _SUMMARY_COLUMNS).to_pydict()
    selection = select_rows(table, limit=options.limit, all_rows=options.all_rows)
    n = selection.n_rows
    teachers = {t for t in table["teacher"][:n] if t}
    summary: dict[str, Any] = {
        "teacher": teachers.pop() if len(teachers) == 1 else ref.teacher_slug,
        "language": ref.language,
        "n_rows": n,
        "n_valid": sum(bool(v) for v in table["valid"][:n]),
        **selection.record(),
    }
    per_row: dict[int, dict[str, Any]] = {
        i: {
            "teacher": summary["teacher"],
            "language": ref.language,
            "seed_id": table["seed_id"][i],
            "row_index": i,
        }
        for i in selection.index
    }
    input_fp = fingerprint_file(ref.path)
    found: dict[str, Any] = {}  # the deviations of the caches joined
    for metric in available_metrics(options.extra_metrics):
        record = _read_cache(folder / f"{metric}.json")
        if record is None:
            continue
        why = (
            "computed on another input file"
            if record.get("input") != input_fp
            else _usable(record, metric, selection, options)
        )
        if why:
            logger.warning("ignoring the %s cache of %s: %s", metric, ref.name, why)
            continue
        found |= record.get("deviations") or {}
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
    summary["protocol"] = resolve(options.protocol).record(found)
    return summary, list(per_row.values())


def write_summary(
    datasets: Sequence[DatasetRef], out_dir: Path, *, options: IntrinsicOptions | None = None
) -> Path:
    """Join the caches into ``summary.jsonl`` and ``rows.parquet``; returns the summary path.

    Any cache computed on the current input file, rows and protocol counts, whatever run
    wrote it, so a metric computed alone later joins the ones computed before; a cache of
    the other protocol's fluency or judge rule is left out (with a warning).
    """
    options = options or IntrinsicOptions()
    import pyarrow as pa
    import pyarrow.parquet as pq

    summary_keys, row_fields = _plugin_fields(options)
    summaries, rows = [], []
    for ref in datasets:
        folder = out_dir / ref.teacher_slug / ref.language
        summary, per_row = _dataset_summary(ref, folder, options)
        summaries.append({k: summary.get(k) for k in summary_keys} | summary)
        rows.extend(per_row)
    text = "".join(json.dumps(_jsonable(s), ensure_ascii=False) + "\n" for s in summaries)
    path = out_dir / SUMMARY_FILE
    atomic_write_text(path, text)
    columns = {c: [r.get(c) for r in rows] for c in (*ROW_COLUMNS, *row_fields)}
    schema = pa.schema(
        [(c, pa.string()) for c in ("teacher", "language", "seed_id")]
        + [("row_index", pa.int64()), ("perplexity", pa.float64()), ("rubric_score", pa.int64()),
           ("rubric_parsed", pa.bool_()), ("rubric_feedback", pa.string()),
           ("prompt_length", pa.int64()), ("response_length", pa.int64())]
        + [(c, pa.array(columns[c]).type) for c in row_fields]  # a plugin's: as its values are
    )  # fmt: skip
    table = pa.table(columns, schema=schema)
    atomic_write(out_dir / ROWS_FILE, lambda p: pq.write_table(table, p))
    return path


def _plugin_fields(options: IntrinsicOptions) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Summary keys (the built-ins', then each plugin's fields) and plugin per-row columns."""
    plugins: list[IntrinsicMetric] = [
        m for name, m in available_metrics(options.extra_metrics).items() if name not in METRICS
    ]
    extra = [f for m in plugins for f in m.summary_fields if f not in SUMMARY_KEYS]
    rows = [f for m in plugins for f in m.row_fields if f not in ROW_COLUMNS]
    keys = (*SUMMARY_KEYS[:-1], *dict.fromkeys(extra), SUMMARY_KEYS[-1])  # protocol last
    return keys, tuple(dict.fromkeys(rows))


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
        ("teacher", "teacher"), ("language", "lang"), ("n_valid", "valid"),
        ("subsample_size", "measured"), ("valid_rate", "valid%"),
        ("language_match_rate", "lang%"), ("prompt_diversity", "p_div"), ("response_diversity", "r_div"),
        ("perplexity", "ppl"), ("rubric_score", "rubric"), ("judge_parse_rate", "parsed%"),
        ("prompt_length", "p_len"), ("response_length", "r_len"), ("duplicate_rate", "dup%"),
    ]  # fmt: skip
    table = [[s.get(k) for k, _ in cols] for s in summaries]
    return tabulate(table, headers=[h for _, h in cols], floatfmt=".3g", missingval="-")
