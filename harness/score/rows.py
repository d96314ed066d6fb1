"""The scorer's row types, :class:`ExtrinsicRow` and :class:`IntrinsicRow`, and their checks.

Why a module of their own: every input format (long-format JSONL, lm-eval results,
intrinsic summaries) is turned into these rows, and the scorer, the bootstrap, the
predictor and the evaluate stage all read them, so they sit apart from any one reader.
A malformed row fails once, at the border, with the file and field named, instead of as
a NaN three tables later. Each row carries the protocol its input recorded (``None`` for
inputs older than protocols), and :func:`run_protocol` refuses a run whose inputs do not
share one.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.errors import ConfigError
from harness.evaluate.registry import registry
from harness.protocol import check_same, name_of, resolve

logger = logging.getLogger(__name__)


ROLES: tuple[str, ...] = ("student", "base", "reference")


def score_floor(benchmark: str) -> float:
    """The lowest valid score of a benchmark: its record's ``floor``, else 0."""
    record = registry().get(benchmark)
    return record.floor if record is not None else 0.0


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
