"""Turn lm-eval ``--log_samples`` output into one SFT dataset per (teacher, language).

Input: any folder holding lm-eval output (``<model>/results_<ts>.json`` with sibling
``samples_<task>_<ts>.jsonl``), from the CLI or from ``polyglot-harness generate``.
Output: ``<out>/<teacher_slug>/<lang>/data.parquet`` with the columns of
:class:`harness.schema.SFTRow`. Verdicts are recomputed from the raw output, so a
newer parser improves old runs. Rows are keyed by (strategy, seed_id): later runs
replace earlier rows of the same key, and a dataset already in ``out`` is merged into,
never silently replaced by less (``overwrite=True`` replaces it on purpose). Every
sample that does not become its own row is counted and reported.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, EmptyDataError, InputNotFoundError
from harness.generate.validity import assess
from harness.naming import dataset_dir, model_from_args
from harness.redact import scrub_model_args
from harness.schema import DATA_FILE, SFT_COLUMNS, SFTRow, sft_row

logger = logging.getLogger(__name__)

TASK_RE = re.compile(r"^polyglot_(generate|translate|respond)_([a-z]{2,3})$")
# Parquet key-value metadata of a collected file: facts about the whole dataset that a
# per-row column would repeat thousands of times (today: capped document counts).
METADATA_KEY = b"polyglot_collect"


@dataclass(frozen=True)
class RunFile:
    """One lm-eval results file and what it says about the run."""

    results_path: Path
    teacher: str
    model_args: str
    run_id: str
    configs: dict[str, Any]
    n_samples: dict[str, Any] | None = None  # lm-eval's "n-samples": {task: {original, ...}}


def _teacher_from(results: dict[str, Any]) -> str:
    config = results.get("config") or {}
    name = model_from_args(config.get("model_args"))
    return str(name or results.get("model_name") or config.get("model") or "unknown")


def find_runs(root: str | Path) -> list[RunFile]:
    """Every lm-eval results file under ``root`` that ran polyglot generation tasks."""
    root = Path(root)
    if not root.exists():
        raise InputNotFoundError(f"no such folder: {root}")
    runs = []
    for path in sorted(root.rglob("results_*.json")):
        try:
            results = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            logger.warning("skipping unreadable results file %s (%s)", path, exc)
            continue
        if not isinstance(results, dict):
            logger.warning("skipping %s: not an lm-eval results object", path)
            continue
        configs = {k: v for k, v in (results.get("configs") or {}).items() if TASK_RE.match(k)}
        if not configs:
            continue
        run_id = path.stem.removeprefix("results_")
        model_args = (results.get("config") or {}).get("model_args")
        runs.append(
            RunFile(
                path, _teacher_from(results), scrub_model_args(model_args), run_id, configs,
                results.get("n-samples") or {},
            )
        )  # fmt: skip
    return runs


def _samples_file(run: RunFile, task: str) -> Path | None:
    exact = run.results_path.with_name(f"samples_{task}_{run.run_id}.jsonl")
    if exact.is_file():
        return exact
    candidates = sorted(run.results_path.parent.glob(f"samples_{task}_*.jsonl"))
    return candidates[-1] if candidates else None


def _raw_output(sample: dict[str, Any]) -> str:
    for key in ("filtered_resps", "resps"):
        value = sample.get(key)
        while isinstance(value, list) and value:
            value = value[0]
        if isinstance(value, str):
            return value
    return ""


def read_samples(path: Path, counts: Counter[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, sample)`` of one lm-eval samples file, every sample checked.

    Only a trailing line that is not JSON is skipped (counted in
    ``counts["partial_lines"]``): that is what a kill mid-write leaves, and the lines
    before it are whole. Anything else malformed is a corrupt file, and collecting
    around it would drop samples silently.

    Raises:
        ConfigError: a line is not UTF-8, not JSON (before the last line), or not a
            sample with a ``doc`` object and an integer ``doc_id``; named as file:line.
    """
    lines = path.read_bytes().splitlines()
    last = max((i for i, line in enumerate(lines, 1) if line.strip()), default=0)
    for number, raw in enumerate(lines, 1):
        where = f"{path}:{number}"
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"{where}: not valid UTF-8 ({exc.reason} at byte {exc.start}); "
                "the samples file is corrupt: regenerate it or remove the line"
            ) from exc
        if not line.strip():
            continue
        try:
            sample = json.loads(line)
        except ValueError as exc:
            if number == last:
                logger.warning("%s: incomplete last line (interrupted write?), skipped", where)
                counts["partial_lines"] += 1
                continue
            raise ConfigError(f"{where}: not JSON ({exc}); the samples file is corrupt") from exc
        if not isinstance(sample, dict) or not isinstance(sample.get("doc"), dict):
            raise ConfigError(
                f"{where}: not an lm-eval sample (expected a JSON object with a 'doc' object)"
            )
        try:
            sample["doc_id"] = int(sample.get("doc_id"))  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: not an lm-eval sample (no integer 'doc_id')") from exc
        yield number, sample


def _seed_id(doc: dict[str, Any], task: str, doc_id: int, counts: Counter[str]) -> str:
    """The doc's seed id, or a stable one from task and doc_id when it has none.

    Without it every such sample would share the key ``(strategy, "")`` and all but
    one would vanish in the merge.
    """
    seed = str(doc.get("seed_id") or "").strip()
    if seed:
        return seed
    counts["no_seed_id"] += 1
    return f"{task}-doc{doc_id}"


def iter_rows(
    run: RunFile, teacher: str | None = None, counts: Counter[str] | None = None
) -> Iterator[SFTRow]:
    """Rows of one run, one per sample; a missing samples file is reported and skipped.

    Samples of one run that share a seed id (a seed file with duplicate ids) each keep
    a row, under ``<seed_id>~doc<doc_id>``, and are counted in ``counts``.
    """
    counts = Counter() if counts is None else counts
    for task, config in run.configs.items():
        strategy, language = TASK_RE.match(task).groups()  # type: ignore[union-attr]
        path = _samples_file(run, task)
        if path is None:
            logger.warning(
                "%s: no samples file for %s (was --log_samples set?)", run.results_path, task
            )
            continue
        gen = dict(config.get("generation_kwargs") or {})
        seen: set[str] = set()
        for _, sample in read_samples(path, counts):
            counts["samples"] += 1
            doc, doc_id = sample["doc"], sample["doc_id"]
            seed = _seed_id(doc, task, doc_id, counts)
            if seed in seen:
                counts["duplicate_seed_ids"] += 1
                seed = f"{seed}~doc{doc_id}"
            seen.add(seed)
            raw = _raw_output(sample)
            source_prompt = str(doc.get("source_prompt") or "")
            verdict = assess(strategy, raw, language, source_prompt=source_prompt)
            yield sft_row(
                verdict.prompt,
                verdict.response,
                language=language,
                strategy=strategy,
                teacher=teacher or run.teacher,
                category=str(doc.get("category") or ""),
                seed_id=seed,
                valid=verdict.valid,
                invalid_reason=verdict.invalid_reason,
                detected_language=verdict.detected_language,
                raw_output=raw,
                task=task,
                doc_id=doc_id,
                temperature=gen.get("temperature"),
                top_p=gen.get("top_p"),
                max_gen_toks=gen.get("max_gen_toks"),
                generation_kwargs=json.dumps(gen, sort_keys=True, default=str),
                model_args=run.model_args,
                source_prompt=source_prompt,
                run_id=run.run_id,
            )


def run_caps(run: RunFile) -> list[dict[str, Any]]:
    """Tasks of ``run`` that built fewer documents than ``n_docs`` asked for.

    translate and respond use each seed once, so a small seed pool (the bundled 30 and
    24 prompts) caps them: the dataset must say so, or a mostly-*generate* dataset
    passes for a balanced one.
    """
    caps = []
    for task, config in run.configs.items():
        options = {**(config.get("metadata") or {}), **(config.get("dataset_kwargs") or {})}
        available = (run.n_samples or {}).get(task, {}).get("original")
        try:
            requested = int(options["n_docs"])
        except (KeyError, TypeError, ValueError):
            continue
        if isinstance(available, int) and available < requested:
            strategy, language = TASK_RE.match(task).groups()  # type: ignore[union-attr]
            caps.append({
                "strategy": strategy, "language": language, "requested": requested,
                "available": available, "seeds": str(options.get("seeds") or "bundled"),
            })  # fmt: skip
    return caps


def _key(row: dict[str, Any]) -> tuple[str, str]:
    return (row["strategy"], row["seed_id"])


def _read_existing(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows and recorded caps of a dataset already at ``path``, to merge into."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise ConfigError(
            f"{path}: existing dataset is unreadable ({exc}); pass --overwrite to replace it"
        ) from exc
    if tuple(table.column_names) != SFT_COLUMNS:
        raise ConfigError(
            f"{path}: existing dataset has other columns than a collected dataset, so it "
            "cannot be merged with; pass --overwrite to replace it or choose another --out"
        )
    meta = (table.schema.metadata or {}).get(METADATA_KEY)
    caps = json.loads(meta).get("caps", []) if meta else []
    return table.to_pylist(), caps


def _merge(
    path: Path, rows: dict[tuple[str, str], SFTRow], caps: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Existing rows of ``path`` with ``rows`` laid over them (same key: new wins)."""
    old_rows, old_caps = _read_existing(path)
    merged: dict[tuple[str, str], dict[str, Any]] = {_key(r): r for r in old_rows}
    replaced = sum(key in merged for key in rows)
    kept = len(merged) - replaced
    merged.update((key, dict(row)) for key, row in rows.items())
    if kept:
        logger.warning(
            "%s: kept %d existing row(s) the collected runs do not hold (%d replaced, %d "
            "new); pass --overwrite to replace the dataset instead",
            path, kept, replaced, len(rows) - replaced,
        )  # fmt: skip
    all_caps = old_caps + [c for c in caps if c not in old_caps]
    return list(merged.values()), all_caps


def _write(path: Path, rows: list[dict[str, Any]], caps: list[dict[str, Any]]) -> None:
    """Write atomically (never a half-written data file), with the caps as metadata."""
    import pyarrow.parquet as pq
    from datasets import Dataset

    from harness.schema import sft_features

    ordered = sorted(rows, key=lambda r: (r["strategy"], r["doc_id"], r["seed_id"], r["run_id"]))
    table = Dataset.from_list(ordered, features=sft_features()).data.table
    if caps:
        meta = dict(table.schema.metadata or {})
        meta[METADATA_KEY] = json.dumps({"caps": caps}, sort_keys=True).encode()
        table = table.replace_schema_metadata(meta)
    from harness.files import atomic_write

    atomic_write(path, lambda tmp: pq.write_table(table, tmp))


def _report(counts: Counter[str], n_rows: int) -> None:
    """One warning with the count of every sample that did not become its own row."""
    losses = {
        "samples had no seed_id (keyed by task and doc_id instead)": counts["no_seed_id"],
        "samples shared a seed_id within a run (kept as <seed_id>~doc<doc_id>)": counts[
            "duplicate_seed_ids"
        ],
        "samples were replaced by a later run's sample of the same (strategy, seed_id)": counts[
            "superseded"
        ],
        "incomplete last lines were skipped": counts["partial_lines"],
    }
    found = [f"{n} {what}" for what, n in losses.items() if n]
    if found:
        logger.warning(
            "collect: %d samples read, %d rows written; %s",
            counts["samples"], n_rows, "; ".join(found),
        )  # fmt: skip


def collect(
    runs_dir: str | Path,
    out_dir: str | Path,
    *,
    teacher: str | None = None,
    overwrite: bool = False,
) -> dict[tuple[str, str], Path]:
    """Collect every polyglot run under ``runs_dir`` into datasets under ``out_dir``.

    Args:
        runs_dir: lm-eval ``--output_path`` (or any folder above it).
        out_dir: where ``<teacher_slug>/<lang>/data.parquet`` files go.
        teacher: name to record instead of the model id lm-eval logged (e.g. the
            registry name, or to keep an API model's name stable across versions).
        overwrite: replace a dataset already in ``out_dir``; by default it is merged
            with (collected rows replace its rows of the same key, the rest are kept)
            so finished data is never replaced by less.

    Returns:
        ``(teacher, language) -> parquet path`` for every dataset written.

    Raises:
        InputNotFoundError / EmptyDataError: no runs to collect.
        ConfigError: a corrupt samples file (named by file:line), or an existing
            dataset that cannot be merged with.
    """
    runs = find_runs(runs_dir)
    if not runs:
        raise EmptyDataError(
            f"no lm-eval results of polyglot_* tasks under {runs_dir}; run lm_eval with "
            "--tasks 'polyglot_*' --log_samples --output_path <dir> first"
        )
    counts: Counter[str] = Counter()
    grouped: dict[tuple[str, str], dict[tuple[str, str], SFTRow]] = defaultdict(dict)
    caps: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for run in sorted(runs, key=lambda r: r.run_id):  # later runs replace earlier rows
        for row in iter_rows(run, teacher, counts):
            group = grouped[(row["teacher"], row["language"])]
            counts["superseded"] += _key(row) in group
            group[_key(row)] = row
        for cap in run_caps(run):
            name = teacher or run.teacher
            if cap not in caps[(name, cap["language"])]:
                caps[(name, cap["language"])].append(cap)
    written: dict[tuple[str, str], Path] = {}
    for (name, language), rows in sorted(grouped.items()):
        path = dataset_dir(out_dir, name, language) / DATA_FILE
        found = caps.get((name, language), [])
        for cap in found:
            logger.warning(
                "%s %s: %s asked for %d documents but the seed pool (%s) held only %d; "
                "the dataset card will say so",
                name, language, cap["strategy"], cap["requested"], cap["seeds"], cap["available"],
            )  # fmt: skip
        if path.is_file() and not overwrite:
            merged, found = _merge(path, rows, found)
        else:
            merged = [dict(r) for r in rows.values()]
        _write(path, merged, found)
        written[(name, language)] = path
    _report(counts, sum(len(rows) for rows in grouped.values()))
    return written


def collected_notes(path: str | Path) -> list[str]:
    """Sentences about a collected dataset that its card must state (capped strategies)."""
    import pyarrow.parquet as pq

    path = Path(path)
    file = path / DATA_FILE if path.is_dir() else path
    meta = (pq.read_schema(file).metadata or {}).get(METADATA_KEY)
    caps = json.loads(meta).get("caps", []) if meta else []
    return [
        f"{c['language']} {c['strategy']}: {c['requested']} documents were requested, but "
        f"the seed pool ({c['seeds']}) held only {c['available']} prompts, so this strategy "
        f"has at most {c['available']} rows"
        for c in caps
    ]


def load_collected(path: str | Path) -> Any:
    """Load one collected dataset (a ``data.parquet`` or its folder) as a ``Dataset``.

    Read in memory through pyarrow: no cache files next to the data, no progress bar.
    """
    import pyarrow.parquet as pq
    from datasets import Dataset

    path = Path(path)
    file = path / DATA_FILE if path.is_dir() else path
    if not file.is_file():
        raise InputNotFoundError(f"no collected dataset at {file}")
    return Dataset(pq.read_table(file))


def stats_rows(dataset: Any) -> list[dict[str, Any]]:
    """Per (teacher, language, strategy) counts and rates, for the summary table.

    ``top_invalid`` counts every invalid reason (most frequent first), so a reason
    such as ``undetermined_language`` is never hidden behind the others.
    """
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in dataset:
        groups[(row["teacher"], row["language"], row["strategy"])].append(row)
    out = []
    for (teacher, language, strategy), rows in sorted(groups.items()):
        valid = [r for r in rows if r["valid"]]
        reasons: dict[str, int] = defaultdict(int)
        for r in rows:
            if r["invalid_reason"]:
                reasons[r["invalid_reason"]] += 1
        out.append(
            {
                "teacher": teacher,
                "language": language,
                "strategy": strategy,
                "rows": len(rows),
                "valid_rate": len(valid) / len(rows),
                "lang_match_rate": sum(r["detected_language"] == language for r in rows) / len(rows),
                "mean_prompt_chars": sum(len(r["prompt"]) for r in valid) / len(valid) if valid else None,
                "mean_response_chars": sum(len(r["response"]) for r in valid) / len(valid) if valid else None,
                "top_invalid": ", ".join(f"{k}:{v}" for k, v in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
            }
        )  # fmt: skip
    return out
