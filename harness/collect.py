"""Turn lm-eval ``--log_samples`` output into one SFT dataset per (teacher, language).

Input: any folder holding lm-eval output (``<model>/results_<ts>.json`` with sibling
``samples_<task>_<ts>.jsonl``), from the CLI or from ``polyglot-harness generate``.
Output: ``<out>/<teacher_slug>/<lang>/data.parquet`` with the columns of
:class:`harness.schema.SFTRow`. Verdicts are recomputed from the raw output, so a
newer parser improves old runs, under one protocol (:mod:`harness.protocol`): the one
given, else the one the generation run recorded, else ``paper``; the file's metadata
records it, and the dataset card states it. Rows are keyed by (strategy, seed_id): later runs
replace earlier rows of the same key, and a dataset already in ``out`` is merged into,
never silently replaced by less (``overwrite=True`` replaces it on purpose). Every
sample that does not become its own row is counted and reported.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, EmptyDataError, InputNotFoundError
from harness.files import data_file, read_jsonl
from harness.generate.validity import assess
from harness.naming import (
    RESULTS_GLOB,
    RUN_RECORD,
    dataset_dir,
    model_from_args,
    parse_generation_task,
    samples_file,
    samples_glob,
)
from harness.protocol import PAPER, Protocol, resolve
from harness.redact import scrub_model_args
from harness.schema import DATA_FILE, SFT_COLUMNS, SFTRow, sft_row

logger = logging.getLogger(__name__)

# Parquet key-value metadata of a collected file: facts about the whole dataset that a
# per-row column would repeat thousands of times (capped document counts, the protocol).
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
    protocol: dict[str, Any] | None = None  # the generation run's record, when it left one


def _teacher_from(results: dict[str, Any]) -> str:
    config = results.get("config") or {}
    name = model_from_args(config.get("model_args"))
    return str(name or results.get("model_name") or config.get("model") or "unknown")


def _as_record(value: Any, where: str) -> dict[str, Any]:
    """A recorded protocol (a name or a ``Protocol.record`` dict) as a record dict."""
    try:
        record = resolve(str(value["name"] if isinstance(value, dict) else value)).record(
            value.get("deviations") if isinstance(value, dict) else None
        )
    except (ConfigError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(
            f"{where}: unreadable protocol {value!r} ({exc}); fix or remove the record"
        ) from exc
    return record


def _run_protocol(results_path: Path, root: Path, configs: dict[str, Any]) -> dict | None:
    """The protocol a generation run recorded: its run record, else its task metadata.

    The run record (``polyglot_run.json``) sits in the results folder or a folder above
    it, up to ``root``; an lm-eval CLI run has none, but may carry ``protocol`` in
    ``--metadata``.
    """
    above = [results_path.parent, *results_path.parent.parents]
    for folder in above[: above.index(root) + 1 if root in above else 1]:
        record = folder / RUN_RECORD
        if record.is_file():
            try:
                data = json.loads(record.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ConfigError(
                    f"{record}: unreadable run record ({exc}); fix or remove it"
                ) from exc
            if isinstance(data, dict) and data.get("protocol") is not None:
                return _as_record(data["protocol"], str(record))
    named = {
        str((c.get("metadata") or {}).get("protocol"))
        for c in configs.values()
        if (c.get("metadata") or {}).get("protocol") is not None
    }
    if len(named) > 1:
        raise ConfigError(
            f"{results_path}: tasks record different protocols {sorted(named)}; pass --protocol"
        )
    return _as_record(named.pop(), str(results_path)) if named else None


def find_runs(root: str | Path) -> list[RunFile]:
    """Every lm-eval results file under ``root`` that ran polyglot generation tasks."""
    root = Path(root)
    if not root.exists():
        raise InputNotFoundError(f"no such folder: {root}")
    runs = []
    for path in sorted(root.rglob(RESULTS_GLOB)):
        try:
            results = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            logger.warning("skipping unreadable results file %s (%s)", path, exc)
            continue
        if not isinstance(results, dict):
            logger.warning("skipping %s: not an lm-eval results object", path)
            continue
        configs = {
            k: v for k, v in (results.get("configs") or {}).items() if parse_generation_task(k)
        }
        if not configs:
            continue
        run_id = path.stem.removeprefix("results_")
        model_args = (results.get("config") or {}).get("model_args")
        runs.append(
            RunFile(
                path, _teacher_from(results), scrub_model_args(model_args), run_id, configs,
                results.get("n-samples") or {}, _run_protocol(path, root, configs),
            )
        )  # fmt: skip
    return runs


def choose_protocol(runs: list[RunFile], protocol: str | Protocol | None = None) -> dict:
    """The protocol record collect applies: ``protocol`` if given, else the runs' own.

    A run that recorded none counts as ``paper``. Runs recording different protocols
    are refused: one dataset has one protocol, and silently picking one would give
    some runs' rows verdicts their generation run did not ask for. The deviations the
    runs recorded (a demo's small ``n_docs``, ...) stay in the record, since the data
    carries them whatever protocol decides validity.
    """
    recorded = {str(r.results_path): r.protocol or resolve(PAPER).record() for r in runs}
    names = {rec["name"]: where for where, rec in recorded.items()}
    if protocol is None and len(names) > 1:
        (a, where_a), (b, where_b) = list(names.items())[:2]
        raise ConfigError(
            f"the runs record different protocols ({where_a}: {a!r}, {where_b}: {b!r}); "
            "collect them into separate --out folders, or pass --protocol to apply one"
        )
    deviations: dict[str, Any] = {}
    for rec in recorded.values():
        for key, value in (rec.get("deviations") or {}).items():
            seen = deviations.setdefault(key, [])
            if value not in seen:
                seen.append(value)
    chosen = resolve(protocol if protocol is not None else next(iter(names)))
    return chosen.record({k: v[0] if len(v) == 1 else v for k, v in deviations.items()})


def _samples_file(run: RunFile, task: str) -> Path | None:
    exact = run.results_path.with_name(samples_file(task, run.run_id))
    if exact.is_file():
        return exact
    candidates = sorted(run.results_path.parent.glob(samples_glob(task)))
    return candidates[-1] if candidates else None


def _raw_output(sample: dict[str, Any]) -> str:
    for key in ("filtered_resps", "resps"):
        value = sample.get(key)
        while isinstance(value, list) and value:
            value = value[0]
        if isinstance(value, str):
            return value
    return ""


def read_samples(path: Path, counts: Counter[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(file:line, sample)`` of one lm-eval samples file, every sample checked.

    Only a trailing line that is not JSON is skipped (counted in
    ``counts["partial_lines"]``): that is what a kill mid-write leaves, and the lines
    before it are whole. Anything else malformed is a corrupt file, and collecting
    around it would drop samples silently.

    Raises:
        ConfigError: a line is not UTF-8, not JSON (before the last line), or not a
            sample with a ``doc`` object and an integer ``doc_id``; named as file:line.
    """
    torn: list[str] = []
    for where, sample in read_jsonl(path, torn="last", skipped=torn):
        if not isinstance(sample.get("doc"), dict):
            raise ConfigError(
                f"{where}: not an lm-eval sample (expected a JSON object with a 'doc' object)"
            )
        try:
            sample["doc_id"] = int(sample.get("doc_id"))  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: not an lm-eval sample (no integer 'doc_id')") from exc
        yield where, sample
    counts["partial_lines"] += len(torn)


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
    run: RunFile,
    teacher: str | None = None,
    counts: Counter[str] | None = None,
    protocol: str | Protocol = PAPER,
) -> Iterator[SFTRow]:
    """Rows of one run, one per sample; a missing samples file is reported and skipped.

    Samples of one run that share a seed id (a seed file with duplicate ids) each keep
    a row, under ``<seed_id>~doc<doc_id>``, and are counted in ``counts``. ``protocol``
    decides which verdicts make a row invalid (:func:`harness.generate.validity.assess`).
    """
    counts = Counter() if counts is None else counts
    protocol = resolve(protocol)
    for task, config in run.configs.items():
        strategy, language = parse_generation_task(task)  # type: ignore[misc]
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
            verdict = assess(
                strategy, raw, language, source_prompt=source_prompt, protocol=protocol
            )
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
                correction_reason=verdict.correction_reason,
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
            strategy, language = parse_generation_task(task)  # type: ignore[misc]
            caps.append({
                "strategy": strategy, "language": language, "requested": requested,
                "available": available, "seeds": str(options.get("seeds") or "bundled"),
            })  # fmt: skip
    return caps


def _key(row: dict[str, Any]) -> tuple[str, str]:
    return (row["strategy"], row["seed_id"])


def _metadata(path: Path) -> dict[str, Any]:
    """The collect metadata of a parquet file: caps and protocol ({} when none)."""
    import pyarrow.parquet as pq

    meta = (pq.read_schema(path).metadata or {}).get(METADATA_KEY)
    return json.loads(meta) if meta else {}


def _read_existing(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows and collect metadata of a dataset already at ``path``, to merge into."""
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
    return table.to_pylist(), json.loads(meta) if meta else {}


def _merge(
    path: Path, rows: dict[tuple[str, str], SFTRow], caps: list[dict[str, Any]], protocol: dict
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Existing rows of ``path`` with ``rows`` laid over them (same key: new wins).

    Both must be of one protocol: kept rows were judged under the old one, so a merge
    across protocols would leave a dataset whose ``valid`` means two things.
    """
    old_rows, old_meta = _read_existing(path)
    old_name = (old_meta.get("protocol") or {}).get("name")
    if old_name != protocol["name"]:
        raise ConfigError(
            f"{path}: existing dataset was collected under protocol "
            f"{old_name or 'unrecorded'!r}, this collect is {protocol['name']!r}; pass "
            f"--overwrite to replace it, or --protocol {old_name or '<its protocol>'} to merge"
        )
    old_caps = old_meta.get("caps", [])
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


def _write(
    path: Path, rows: list[dict[str, Any]], caps: list[dict[str, Any]], protocol: dict
) -> None:
    """Write atomically (never a half-written data file), with caps and protocol as metadata."""
    import pyarrow.parquet as pq
    from datasets import Dataset

    from harness.schema import sft_features

    ordered = sorted(rows, key=lambda r: (r["strategy"], r["doc_id"], r["seed_id"], r["run_id"]))
    table = Dataset.from_list(ordered, features=sft_features()).data.table
    meta = dict(table.schema.metadata or {})
    meta[METADATA_KEY] = json.dumps({"caps": caps, "protocol": protocol}, sort_keys=True).encode()
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
    protocol: str | Protocol | None = None,
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
        protocol: which checks decide ``valid`` (``paper``: parses and non-empty;
            ``corrected`` adds the refusal and language checks). Default: the protocol
            the generation runs recorded, else ``paper``.

    Returns:
        ``(teacher, language) -> parquet path`` for every dataset written.

    Raises:
        InputNotFoundError / EmptyDataError: no runs to collect.
        ConfigError: a corrupt samples file (named by file:line), runs recording
            different protocols with no ``protocol`` given, or an existing dataset that
            cannot be merged with (unreadable, or of another protocol).
    """
    if protocol is not None:
        protocol = resolve(protocol)  # a typo fails before any file is read
    runs = find_runs(runs_dir)
    if not runs:
        raise EmptyDataError(
            f"no lm-eval results of polyglot_* tasks under {runs_dir}; run lm_eval with "
            "--tasks 'polyglot_*' --log_samples --output_path <dir> first"
        )
    record = choose_protocol(runs, protocol)
    logger.info("collecting under protocol %s", record["name"])
    counts: Counter[str] = Counter()
    grouped: dict[tuple[str, str], dict[tuple[str, str], SFTRow]] = defaultdict(dict)
    caps: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for run in sorted(runs, key=lambda r: r.run_id):  # later runs replace earlier rows
        for row in iter_rows(run, teacher, counts, record["name"]):
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
            merged, found = _merge(path, rows, found, record)
        else:
            merged = [dict(r) for r in rows.values()]
        _write(path, merged, found, record)
        written[(name, language)] = path
    _report(counts, sum(len(rows) for rows in grouped.values()))
    return written


def collected_protocol(path: str | Path) -> dict[str, Any] | None:
    """The protocol record a collected dataset was judged under (None: collected before
    protocols were recorded), for later stages to check and cards to state."""
    return _metadata(data_file(path)).get("protocol")


def collected_notes(path: str | Path) -> list[str]:
    """Sentences about a collected dataset that its card must state (capped strategies).

    The protocol is not among them: the card states it from :func:`collected_protocol`.
    """
    return [
        f"{c['language']} {c['strategy']}: {c['requested']} documents were requested, but "
        f"the seed pool ({c['seeds']}) held only {c['available']} prompts, so this strategy "
        f"has at most {c['available']} rows"
        for c in _metadata(data_file(path)).get("caps", [])
    ]


def load_collected(path: str | Path) -> Any:
    """Load one collected dataset (a ``data.parquet`` or its folder) as a ``Dataset``.

    Read in memory through pyarrow: no cache files next to the data, no progress bar.
    """
    import pyarrow.parquet as pq
    from datasets import Dataset

    return Dataset(pq.read_table(data_file(path)))


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{k}:{v}" for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def stats_rows(dataset: Any) -> list[dict[str, Any]]:
    """Per (teacher, language, strategy) counts and rates, for the summary table.

    ``top_invalid`` counts every invalid reason (most frequent first), so a reason
    such as ``undetermined_language`` is never hidden behind the others.
    ``correction_flags`` counts the valid rows the refusal and language corrections
    would make invalid (none under ``corrected``): what adopting them would cost.
    """
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in dataset:
        groups[(row["teacher"], row["language"], row["strategy"])].append(row)
    out = []
    for (teacher, language, strategy), rows in sorted(groups.items()):
        valid = [r for r in rows if r["valid"]]
        reasons: Counter[str] = Counter(r["invalid_reason"] for r in rows if r["invalid_reason"])
        flags: Counter[str] = Counter(
            r.get("correction_reason") for r in valid if r.get("correction_reason")
        )
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
                "top_invalid": _counts(reasons),
                "correction_flags": _counts(flags),
            }
        )  # fmt: skip
    return out
