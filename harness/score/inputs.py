"""Readers for the scorer's inputs: long-format JSONL, lm-eval results, intrinsic summaries.

The scorer only ever sees :class:`ExtrinsicRow` and :class:`IntrinsicRow`; every input
format is turned into those here, so a malformed row fails once, at the border, with
the file and field named, instead of as a NaN three tables later. Each row carries the
protocol its input recorded (``None`` for inputs older than protocols), and
:func:`run_protocol` refuses a run whose inputs do not share one.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import math
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, EmptyDataError, InputNotFoundError
from harness.evaluate.registry import benchmark_of_task, registry
from harness.files import read_jsonl
from harness.naming import (
    EVAL_MANIFEST,
    RESULTS_GLOB,
    RUN_RECORD,
    SUMMARY_FILE,
    parse_eval_group,
    parse_model_args,
    parse_student_run_name,
    samples_glob,
)
from harness.protocol import check_same, name_of, resolve

logger = logging.getLogger(__name__)

ROLES: tuple[str, ...] = ("student", "base", "reference")
SIDECAR = RUN_RECORD  # written next to lm-eval output by the evaluate stage
INTRINSIC_SUMMARY = SUMMARY_FILE
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


def score_floor(benchmark: str) -> float:
    """The lowest valid score of a benchmark: its record's ``floor``, else 0."""
    record = registry().get(benchmark)
    return record.floor if record is not None else 0.0


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


def check_score_range(rows: Iterable[ExtrinsicRow], ceiling: float = 1.0) -> None:
    """Refuse a score or stderr outside ``[0, ceiling]``, naming the row's file and line.

    Why: PGR is a ratio of differences, so one score on the wrong scale (55.0, a
    percentage, among accuracies in 0..1) yields a plausible-looking number (PGR 182)
    instead of an error. The ceiling is the scorer's (``--ceiling``): a run on a 0..100
    scale says so once and every row is checked against it.

    Raises:
        ConfigError: the first row out of range, with its source and the fix.
    """
    for row in rows:
        floor = score_floor(row.benchmark)
        where = f"{row.source}: {row.role} {row.student_family} {row.benchmark}_{row.language}"
        if not floor <= row.score <= ceiling:
            low = "" if math.isinf(floor) else f"{floor:g}, "
            raise ConfigError(
                f"{where}: score {row.score:g} is outside [{low}{ceiling:g}]; write scores on "
                f"the 0..{ceiling:g} scale of the run, or pass --ceiling for another scale"
            )
        if row.stderr is not None and row.stderr > ceiling:
            raise ConfigError(
                f"{where}: stderr {row.stderr:g} is outside [0, {ceiling:g}]; write stderrs on "
                f"the 0..{ceiling:g} scale of the scores"
            )


def _finite(value: Any, *, where: str, name: str, optional: bool = False) -> float | None:
    """Validate one numeric field: a finite float (or None where allowed)."""
    if value is None and optional:
        return None
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    # abs(int) > float max: math.isfinite would raise OverflowError on 10**400
    if not numeric or abs(value) > sys.float_info.max or not math.isfinite(value):
        hint = "a finite number or null" if optional else "a finite number"
        shown = repr(value) if len(repr(value)) <= 40 else f"{repr(value)[:37]}..."
        raise ConfigError(f"{where}: field {name!r} is {shown}; expected {hint}")
    return float(value)


@dataclass(frozen=True)
class ExtrinsicRow:
    """One benchmark score of one model in one language.

    ``role`` says which anchor of PGR the model is: the trained ``student`` (then
    ``teacher`` and ``target_language`` say what it was trained on), its untrained
    ``base``, or the ``reference`` upper anchor. Base and reference rows belong to a
    student family; ``student_family="*"`` on a reference row shares it with every family.
    """

    role: str
    student_family: str
    benchmark: str
    language: str
    score: float
    stderr: float | None = None
    teacher: str | None = None
    target_language: str | None = None
    source: str = "<memory>"  # file the row came from, for error messages
    protocol: str | None = None  # canonical name the input recorded; None: unrecorded

    def __post_init__(self) -> None:
        where = f"extrinsic row ({self.source}: {self.role} {self.student_family} {self.benchmark}_{self.language})"
        if self.role not in ROLES:
            raise ConfigError(f"{where}: field 'role' is {self.role!r}; expected one of {ROLES}")
        for name in ("student_family", "benchmark", "language"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ConfigError(f"{where}: field {name!r} must be a non-empty string")
        _finite(self.score, where=where, name="score")
        se = _finite(self.stderr, where=where, name="stderr", optional=True)
        if se is not None and se < 0:
            raise ConfigError(f"{where}: field 'stderr' is negative ({se})")
        for name in ("teacher", "target_language"):  # join keys: a number here crashed
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ConfigError(f"{where}: field {name!r} is {value!r}; expected a string")
        if self.role == "student":
            for name in ("teacher", "target_language"):
                if not getattr(self, name):
                    raise ConfigError(f"{where}: a student row needs field {name!r}")
        object.__setattr__(self, "protocol", protocol_name(self.protocol, where=where))


@dataclass(frozen=True)
class IntrinsicRow:
    """The intrinsic metrics of one (teacher, language) dataset.

    A metric may be ``None`` (not measured, e.g. no judge was run); the z-score then
    drops that column for the whole run and says so, rather than guessing a value.
    """

    teacher: str
    language: str
    prompt_diversity: float | None
    response_diversity: float | None
    rubric_score: float | None
    perplexity: float | None
    prompt_length: float | None = None
    response_length: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    source: str = "<memory>"
    protocol: str | None = None  # canonical name the summary recorded; None: unrecorded

    def __post_init__(self) -> None:
        where = f"intrinsic row ({self.source}: {self.teacher} {self.language})"
        for name in ("teacher", "language"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ConfigError(f"{where}: field {name!r} must be a non-empty string")
        for name in METRIC_FIELDS:
            _finite(getattr(self, name), where=where, name=name, optional=True)
        if self.perplexity is not None and self.perplexity <= 0:
            raise ConfigError(f"{where}: field 'perplexity' is {self.perplexity}; must be > 0")
        object.__setattr__(self, "protocol", protocol_name(self.protocol, where=where))


METRIC_FIELDS: tuple[str, ...] = (
    "prompt_diversity",
    "response_diversity",
    "rubric_score",
    "perplexity",
    "prompt_length",
    "response_length",
)


def protocol_name(record: Any, *, where: str) -> str | None:
    """The canonical name of a recorded protocol (a record dict or a name), None if absent.

    Raises:
        ConfigError: not a protocol, with ``where`` named.
    """
    if record is not None and not isinstance(record, (str, Mapping)):
        raise ConfigError(
            f"{where}: field 'protocol' is {record!r}; expected a protocol name or record"
        )
    try:
        return name_of(record)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def run_protocol(
    rows: Iterable[ExtrinsicRow | IntrinsicRow], expected: str | None = None
) -> str | None:
    """The one protocol every input of a run recorded; None when none recorded one.

    Why: a PG-Score ranks rows against each other (z is fitted over them, PGR divides by
    anchors measured alongside), so rows made under different protocols, or rows of
    unknown protocol beside known ones, are not comparable. Inputs written before
    protocols existed (the paper's published rows) are scored together as unrecorded.

    Args:
        rows: every extrinsic and intrinsic row the run reads.
        expected: a protocol the inputs must have recorded (``score --protocol``).

    Raises:
        ConfigError: two inputs differ (both named), or they are not ``expected``.
    """
    first: dict[str | None, str] = {}
    for row in rows:
        first.setdefault(row.protocol, row.source)
    named: dict[str, str | None] = {}
    for protocol, source in first.items():
        named[source if source not in named else f"{source} (another row)"] = protocol
    found = check_same(named, what="scorer inputs")
    if expected is not None:
        want = resolve(expected).name
        if found != want:
            source = next(iter(first.values()), "the inputs")
            raise ConfigError(
                f"scorer inputs were made under protocol {found or 'unrecorded'!r} "
                f"({source}), not {want!r}; score them without --protocol or rerun them "
                f"under {want!r}"
            )
    return found


def extrinsic_row_from_dict(obj: Mapping[str, Any], *, source: str) -> ExtrinsicRow:
    """Build a row from one long-format JSON object (see the README's schema)."""
    missing = [
        k for k in ("role", "student_family", "benchmark", "language", "score") if k not in obj
    ]
    if missing:
        raise ConfigError(f"extrinsic row ({source}): missing field(s) {missing}")
    return ExtrinsicRow(
        role=obj["role"],
        student_family=obj["student_family"],
        benchmark=obj["benchmark"],
        language=obj["language"],
        score=obj["score"],
        stderr=obj.get("stderr"),
        teacher=obj.get("teacher"),
        target_language=obj.get("target_language"),
        source=source,
        protocol=protocol_name(obj.get("protocol"), where=source),
    )


def intrinsic_row_from_dict(obj: Mapping[str, Any], *, source: str) -> IntrinsicRow:
    """Build a row from one intrinsic summary object; NaN metrics count as missing."""
    for key in ("teacher", "language"):
        if key not in obj:
            raise ConfigError(f"intrinsic row ({source}): missing field {key!r}")
    values: dict[str, float | None] = {}
    for name in METRIC_FIELDS:
        value = obj.get(name)
        if isinstance(value, float) and math.isnan(value):
            logger.warning("%s: %s is NaN; treating it as missing", source, name)
            value = None
        values[name] = value
    known = {"teacher", "language", "protocol", *METRIC_FIELDS}
    extra = {k: v for k, v in obj.items() if k not in known}
    return IntrinsicRow(
        teacher=obj["teacher"],
        language=obj["language"],
        extra=extra,
        source=source,
        protocol=protocol_name(obj.get("protocol"), where=source),
        **values,
    )


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


def _lm_eval_identity(folder: Path) -> dict[str, Any]:
    """:func:`results_identity`, or a one-line error saying how to record one."""
    identity = results_identity(folder)
    if identity is None:
        raise ConfigError(
            f"{folder}: cannot tell whose lm-eval results these are; write a {RUN_RECORD} "
            'with {"role": "base"|"reference"|"student", "student_family": ..., "teacher": '
            '..., "target_language": ...} next to the results'
        )
    return identity


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


def read_extrinsic(
    path: str | Path, *, unknown: list[UnknownTask] | None = None
) -> list[ExtrinsicRow]:
    """Read every extrinsic input under ``path``.

    ``path`` may be a long-format ``.jsonl`` file, an lm-eval model folder, or a folder
    holding any mix of ``.jsonl`` files and lm-eval output folders (searched recursively).
    lm-eval results of tasks no benchmark record claims are appended to ``unknown`` (and
    logged), so the score report can name them.

    Raises:
        InputNotFoundError: ``path`` does not exist.
        EmptyDataError: nothing under ``path`` yields a row.
    """
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"extrinsic input {path} does not exist")
    rows: list[ExtrinsicRow] = []
    if path.is_file() and path.suffix == ".jsonl":
        rows = [extrinsic_row_from_dict(obj, source=where) for where, obj in read_jsonl(path)]
    elif path.is_file():
        raise ConfigError(f"{path}: expected a .jsonl file or a folder")
    else:
        folders = sorted({f.parent for f in path.rglob(RESULTS_GLOB)})
        for file in sorted(path.rglob("*.jsonl")):
            # lm-eval's --log_samples files sit next to its results: not our rows.
            if file.parent in folders or fnmatch.fnmatchcase(file.name, samples_glob()):
                continue
            rows += [extrinsic_row_from_dict(obj, source=where) for where, obj in read_jsonl(file)]
        for folder in folders:
            meta = _lm_eval_identity(folder)
            record, where = lm_eval_protocol(folder)
            protocol = protocol_name(record, where=str(where))
            rows += read_lm_eval_results(folder, **meta, protocol=protocol, unknown=unknown)
    if not rows:
        raise EmptyDataError(
            f"no extrinsic rows under {path}: expected *.jsonl or lm-eval results_*.json"
        )
    return rows


def read_intrinsic(path: str | Path) -> list[IntrinsicRow]:
    """Read intrinsic metrics: ``metrics/summary.jsonl`` (the intrinsic stage's output),
    a folder of ``.jsonl`` files, or one ``.jsonl`` file.

    Raises:
        InputNotFoundError: ``path`` does not exist.
        EmptyDataError: no rows found.
    """
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"intrinsic input {path} does not exist")
    if path.is_dir():
        summary = path / INTRINSIC_SUMMARY
        files = [summary] if summary.is_file() else sorted(path.glob("*.jsonl"))
    else:
        files = [path]
    rows = [
        intrinsic_row_from_dict(obj, source=where) for f in files for where, obj in read_jsonl(f)
    ]
    if not rows:
        raise EmptyDataError(f"no intrinsic rows under {path}: expected {INTRINSIC_SUMMARY}")
    return rows
