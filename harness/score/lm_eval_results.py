"""Reading lm-eval results folders: scores, whose results they are, their protocol.

Why a module of its own: lm-eval's output (``results_*.json``, with the evaluate stage's
run record and manifest beside it) is read by the scorer, the publisher and the evaluate
stage alike. Which metric of a task is its score is chosen here once
(:func:`pick_metric_key`), so the scorer and the bootstrap score the same number, and
whose results a folder holds is told here once (:func:`results_identity`).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, InputNotFoundError
from harness.evaluate.registry import benchmark_of_task, registry
from harness.naming import (
    EVAL_MANIFEST,
    RESULTS_GLOB,
    RUN_RECORD,
    parse_eval_group,
    parse_model_args,
    parse_student_run_name,
)
from harness.protocol import check_same
from harness.score.rows import ExtrinsicRow, protocol_name

logger = logging.getLogger(__name__)


SIDECAR = RUN_RECORD  # written next to lm-eval output by the evaluate stage


# Which metric is "the" score of a task, and how it becomes a score, is the benchmark
# record's (harness.evaluate.registry): the scorer keeps no table of its own.
_FILTERS: tuple[str, ...] = ("none", "flexible-extract", "strict-match")


def score_reading(benchmark: str) -> tuple[tuple[str, ...], Callable[[float], float] | None]:
    """How a benchmark's lm-eval results become its score: the metrics read, most
    preferred first, and the conversion of the one found (None: it is the score).

    What :func:`read_lm_eval_results` does, for other readers of the same numbers (the
    bootstrap re-aggregates the items of the metric scored here).
    """
    record = registry().get(benchmark)
    if record is None:
        return ("acc",), None
    return record.metrics, (record.to_score if record.score is not None else None)


_METRICS: tuple[str, ...] = ("acc", "weighted_acc", "exact_match", "acc_norm")  # an unrecorded task


@dataclass(frozen=True)
class UnknownTask:
    """An lm-eval result no benchmark record claims: reported, never silently dropped."""

    task: str
    source: str  # the results file

    def __str__(self) -> str:
        return (
            f"{self.source}: task {self.task} is no benchmark the scorer knows; its results "
            "are not scored (add a benchmark record for it, see harness/evaluate/registry.py)"
        )


def _read_json(path: Path) -> Any:
    """One JSON file, or a one-line ConfigError naming it (a torn or hand-edited file)."""
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid UTF-8 ({exc.reason})") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc


def task_benchmark(task: str) -> tuple[str, str] | None:
    """Map an lm-eval task name to (benchmark, language), or None for groups and others.

    Accepts our ``polyglot_eval_<bench>_<lang>`` names (``polyglot_eval_gmmlu_lite_de``)
    and the paper's bare ``<bench>_<lang>`` names (``mrewardbench_de``), for every token a
    benchmark record claims.
    """
    found = benchmark_of_task(task)
    return (found[0].name, found[1]) if found is not None else None


def _filter_rank(key: str) -> tuple[int, str]:
    """Sort lm-eval ``metric,filter`` keys: unfiltered first, then the known filters."""
    filt = key.split(",", 1)[1] if "," in key else ""
    return (_FILTERS.index(filt) if filt in _FILTERS else len(_FILTERS), filt)


def pick_metric_key(
    metrics: Mapping[str, Any], preference: tuple[str, ...] = _METRICS
) -> str | None:
    """The ``metric,filter`` key of a task's lm-eval metrics that is its score.

    lm-eval reports a metric once per filter of the task (MGSM: ``exact_match,strict-match``
    and ``exact_match,flexible-extract``), so "the metric" names several numbers. The
    filter ranking (:func:`_filter_rank`: ``none``, then the known filters in
    ``_FILTERS`` order, then any other) makes the choice fixed, and this function is the
    one place it is made: the scorer reads the key's value and stderr, the bootstrap
    re-aggregates the same key's per-item outputs, so both score the same number.

    Args:
        metrics: one task's entry of lm-eval's ``results``.
        preference: metric names, most preferred first (a benchmark record's ``metrics``).

    Returns:
        The key, or None when no preferred metric has a numeric value.
    """
    for metric in preference:
        for key in sorted((k for k in metrics if k.split(",")[0] == metric), key=_filter_rank):
            value = metrics[key]
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return key
    return None


def _pick_metric(
    metrics: Mapping[str, Any], preference: tuple[str, ...] = _METRICS
) -> tuple[float, float | None] | None:
    """The (score, stderr) of a task's lm-eval metrics dict, by the preference table."""
    key = pick_metric_key(metrics, preference)
    if key is None:
        return None
    name, _, filt = key.partition(",")
    se_key = f"{name}_stderr,{filt}" if filt else f"{name}_stderr"
    se = metrics.get(se_key)
    se = float(se) if isinstance(se, (int, float)) and math.isfinite(se) else None
    return float(metrics[key]), se


def _model_args_name(config: Mapping[str, Any]) -> str | None:
    """The basename of ``pretrained=`` in lm-eval's model_args (a string or a dict)."""
    pretrained = parse_model_args(config.get("model_args")).get("pretrained")
    return Path(pretrained.rstrip("/")).name if pretrained else None


def read_lm_eval_results(
    path: str | Path,
    *,
    role: str,
    student_family: str,
    teacher: str | None = None,
    target_language: str | None = None,
    protocol: str | None = None,
    unknown: list[UnknownTask] | None = None,
) -> list[ExtrinsicRow]:
    """Read one model's lm-eval output (a ``results_*.json`` file or the folder of them).

    When a task appears in several result files, the newest (by the timestamp in the
    file name, which sorts lexically) wins: a rerun replaces an old score. ``protocol``
    is the name the evaluation recorded (:func:`lm_eval_protocol`), carried on every row.
    Each benchmark's record says which metric is its score and how to read it. A leaf
    task no record claims is logged as a warning naming the task and the file, and
    appended to ``unknown`` for the caller's report; groups are aggregates, not scores.

    Raises:
        InputNotFoundError: no ``results_*.json`` at ``path``.
    """
    path = Path(path)
    files = sorted(path.glob(RESULTS_GLOB)) if path.is_dir() else [path]
    if not files or not files[0].is_file():
        raise InputNotFoundError(
            f"no lm-eval results_*.json under {path}; pass lm-eval's --output_path folder"
        )
    latest: dict[str, tuple[str, Mapping[str, Any]]] = {}
    groups: set[str] = set()
    for file in files:
        data = _read_json(file)
        results = data.get("results") if isinstance(data, dict) else None
        if not isinstance(results, dict):
            raise ConfigError(f"{file}: not an lm-eval results file (no 'results' mapping)")
        subtasks = data.get("group_subtasks")
        if isinstance(subtasks, dict):
            groups |= {name for name, members in subtasks.items() if members}
        for task, metrics in results.items():
            if not isinstance(metrics, dict):
                raise ConfigError(f"{file}: results[{task!r}] is not a mapping of metrics")
            latest[task] = (str(file), metrics)
    rows = []
    for task, (file, metrics) in sorted(latest.items()):
        mapped = benchmark_of_task(task)
        if mapped is None:
            if task not in groups and parse_eval_group(task) is None:
                found = UnknownTask(task, file)
                logger.warning("%s", found)
                if unknown is not None:
                    unknown.append(found)
            continue
        benchmark, language = mapped
        picked = _pick_metric(metrics, benchmark.metrics)
        if picked is not None and benchmark.score is not None:
            # A converted metric's stderr is not the score's: none is reported.
            picked = (benchmark.to_score(picked[0]), None)
        if picked is None:
            logger.warning("%s: task %s has no known score metric; skipped", file, task)
            continue
        rows.append(
            ExtrinsicRow(
                role=role,
                student_family=student_family,
                benchmark=benchmark.name,
                language=language,
                score=picked[0],
                stderr=picked[1],
                teacher=teacher,
                target_language=target_language,
                source=f"{file}[{task}]",
                protocol=protocol,
            )
        )
    return rows


IDENTITY_FIELDS: tuple[str, ...] = ("role", "student_family", "teacher", "target_language")


def results_identity(folder: str | Path) -> dict[str, Any] | None:
    """Whose lm-eval results an output folder holds: role, family, teacher, language.

    The run record the evaluate stage writes (in the folder, or the one above when the
    results sit in the model's sub-folder) is authoritative: lineage lives in data, not
    names. Without one, a student run name is parsed from ``pretrained=`` in the results
    (newest file first) or from the folder's name, which only works for students. The
    scorer and the publisher both ask here.

    Returns:
        The identity, or None when neither a record nor a name tells.

    Raises:
        ConfigError: a record or results file is not valid JSON (named).
    """
    folder = Path(folder)
    for candidate in (folder / RUN_RECORD, folder.parent / RUN_RECORD):
        if candidate.is_file():
            meta = _read_json(candidate)
            if not isinstance(meta, dict):
                raise ConfigError(f"{candidate}: expected a JSON object")
            return {k: meta.get(k) for k in IDENTITY_FIELDS}
    names = [folder.name]
    for file in sorted(folder.glob(RESULTS_GLOB)):
        data = _read_json(file)
        config = data.get("config") if isinstance(data, dict) else None
        name = _model_args_name(config) if isinstance(config, dict) else None
        if name:
            names.insert(0, name)
    for name in names:
        try:
            family, teacher, language = parse_student_run_name(name)
        except ValueError:
            continue
        return dict(zip(IDENTITY_FIELDS, ("student", family, teacher, language), strict=True))
    return None


def lm_eval_protocol(folder: str | Path) -> tuple[Any, str | None]:
    """The protocol record an lm-eval model folder was evaluated under, and its file.

    The evaluate stage records it in its manifest (in the folder, or the one above when
    the results sit in the model's sub-folder) and may copy it into the sidecar. A
    folder where no file records one predates protocols: ``(None, None)``.

    Raises:
        ConfigError: two of those files record different protocols (both named).
    """
    folder = Path(folder)
    found: dict[str, Any] = {}
    candidates = (
        folder / EVAL_MANIFEST,
        folder.parent / EVAL_MANIFEST,
        folder / SIDECAR,
        folder.parent / SIDECAR,
    )
    for candidate in candidates:
        if not candidate.is_file():
            continue
        meta = _read_json(candidate)
        if not isinstance(meta, dict) or meta.get("protocol") is None:
            continue
        if candidate.parent != folder and meta.get("results_dir", folder.name) != folder.name:
            continue  # the manifest of another model's results
        protocol_name(meta["protocol"], where=str(candidate))
        found[str(candidate)] = meta["protocol"]
    if not found:
        return None, None
    check_same(found, what="records of one evaluation")
    source, record = next(iter(found.items()))
    return record, source
