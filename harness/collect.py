"""Turn lm-eval ``--log_samples`` output into one SFT dataset per (teacher, language).

Input: any folder holding lm-eval output (``<model>/results_<ts>.json`` with sibling
``samples_<task>_<ts>.jsonl``), from the CLI or from ``polyglot-harness generate``.
Output: ``<out>/<teacher_slug>/<lang>/data.parquet`` with the columns of
:class:`harness.schema.SFTRow`. Verdicts are recomputed from the raw output, so a
newer parser improves old runs. Rows of several runs of the same teacher and language
are merged, later runs replacing earlier rows of the same (strategy, seed_id).
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import EmptyDataError, InputNotFoundError
from harness.generate.validity import assess
from harness.naming import dataset_dir, model_from_args
from harness.redact import scrub_model_args
from harness.schema import DATA_FILE, SFTRow, sft_row

logger = logging.getLogger(__name__)

TASK_RE = re.compile(r"^polyglot_(generate|translate|respond)_([a-z]{2,3})$")


@dataclass(frozen=True)
class RunFile:
    """One lm-eval results file and what it says about the run."""

    results_path: Path
    teacher: str
    model_args: str
    run_id: str
    configs: dict[str, Any]


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
        configs = {k: v for k, v in (results.get("configs") or {}).items() if TASK_RE.match(k)}
        if not configs:
            continue
        run_id = path.stem.removeprefix("results_")
        model_args = (results.get("config") or {}).get("model_args")
        runs.append(
            RunFile(path, _teacher_from(results), scrub_model_args(model_args), run_id, configs)
        )
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


def iter_rows(run: RunFile, teacher: str | None = None) -> Iterator[SFTRow]:
    """Rows of one run; a missing or corrupt samples file is reported and skipped."""
    for task, config in run.configs.items():
        strategy, language = TASK_RE.match(task).groups()  # type: ignore[union-attr]
        path = _samples_file(run, task)
        if path is None:
            logger.warning(
                "%s: no samples file for %s (was --log_samples set?)", run.results_path, task
            )
            continue
        gen = dict(config.get("generation_kwargs") or {})
        for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                sample = json.loads(line)
                doc = sample["doc"]
            except (ValueError, KeyError, TypeError):
                logger.warning("%s:%d: not an lm-eval sample line, skipped", path, line_no)
                continue
            raw = _raw_output(sample)
            verdict = assess(strategy, raw, language, source_prompt=doc.get("source_prompt", ""))
            yield sft_row(
                verdict.prompt,
                verdict.response,
                language=language,
                strategy=strategy,
                teacher=teacher or run.teacher,
                category=doc.get("category", ""),
                seed_id=doc.get("seed_id", ""),
                valid=verdict.valid,
                invalid_reason=verdict.invalid_reason,
                detected_language=verdict.detected_language,
                raw_output=raw,
                task=task,
                doc_id=int(sample.get("doc_id", -1)),
                temperature=gen.get("temperature"),
                top_p=gen.get("top_p"),
                max_gen_toks=gen.get("max_gen_toks"),
                generation_kwargs=json.dumps(gen, sort_keys=True, default=str),
                model_args=run.model_args,
                source_prompt=doc.get("source_prompt", ""),
                run_id=run.run_id,
            )


def collect(
    runs_dir: str | Path, out_dir: str | Path, *, teacher: str | None = None
) -> dict[tuple[str, str], Path]:
    """Collect every polyglot run under ``runs_dir`` into datasets under ``out_dir``.

    Args:
        runs_dir: lm-eval ``--output_path`` (or any folder above it).
        out_dir: where ``<teacher_slug>/<lang>/data.parquet`` files go.
        teacher: name to record instead of the model id lm-eval logged (e.g. the
            registry name, or to keep an API model's name stable across versions).

    Returns:
        ``(teacher, language) -> parquet path`` for every dataset written.
    """
    from datasets import Dataset

    from harness.schema import sft_features

    runs = find_runs(runs_dir)
    if not runs:
        raise EmptyDataError(
            f"no lm-eval results of polyglot_* tasks under {runs_dir}; run lm_eval with "
            "--tasks 'polyglot_*' --log_samples --output_path <dir> first"
        )
    grouped: dict[tuple[str, str], dict[tuple[str, str], SFTRow]] = defaultdict(dict)
    for run in sorted(runs, key=lambda r: r.run_id):  # later runs replace earlier rows
        for row in iter_rows(run, teacher):
            grouped[(row["teacher"], row["language"])][(row["strategy"], row["seed_id"])] = row
    written: dict[tuple[str, str], Path] = {}
    for (name, language), rows in sorted(grouped.items()):
        folder = dataset_dir(out_dir, name, language)
        folder.mkdir(parents=True, exist_ok=True)
        ordered = sorted(rows.values(), key=lambda r: (r["strategy"], r["doc_id"]))
        dataset = Dataset.from_list([dict(r) for r in ordered], features=sft_features())
        tmp = folder / f".{DATA_FILE}.partial"
        dataset.to_parquet(str(tmp))
        tmp.replace(folder / DATA_FILE)  # never a half-written data file
        written[(name, language)] = folder / DATA_FILE
    return written


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
    """Per (teacher, language, strategy) counts and rates, for the summary table."""
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
                "top_invalid": ", ".join(f"{k}:{v}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])[:3]),
            }
        )  # fmt: skip
    return out
