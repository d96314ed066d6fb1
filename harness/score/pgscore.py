"""The Polyglot Score: PGR, intrinsic z-scores, PG, and a well-conditioned extrinsic score.

Formulas are METHOD.md's, exactly:

- ``PGR = (student - base) / (reference - base)``, each a mean over the benchmarks the
  student was evaluated on in its target language (base and reference over the same
  benchmarks);
- ``z`` = mean of the z-scores of prompt diversity, response diversity, rubric score and
  ``-log1p(perplexity)``, fitted over the (teacher, language) cells the run scores (those
  with a student) with the population standard deviation (ddof=0, as scikit-learn's
  StandardScaler). z is relative to the teachers in the fit, so an intrinsic row without
  a student would move every teacher's z: such rows are left out, with a warning;
- ``PG = (PGR + z) / 2``.

Why a conditioning flag: PGR divides by ``reference - base``. In the paper's runs that
gap is often within noise or negative (reference *below* base), so a student worse than
its base gets a large positive PGR. The noise of PGR is roughly ``se / gap``; at
``gap = 2 se`` it is already +/-50%. A gap is therefore *ill-conditioned* when
``gap <= max(k * se_gap, floor)`` with ``se_gap = sqrt(se_base^2 + se_reference^2)``
(k = 2 by default) or, when a stderr is missing, ``gap <= floor`` (0.02 by default: two
accuracy points, about twice the per-language stderr of a 400-item benchmark mean).
Every affected row says so and keeps the paper's PGR value.

Why headroom gain as the well-conditioned score: ``(student - base) / (ceiling - base)``
with ``ceiling = 1`` (accuracy's maximum). It is PGR against an ideal reference: the
upper anchor is a known constant instead of a noisy estimate, so the denominator is
never small (``1 - base`` >= 0.3 for every model the method evaluates), the score's
noise is bounded by ``se(student - base) / (1 - base)``, its sign is the sign of the
real gain, and it ranks students of one family and language exactly as the raw score
does. It is reported on every row so rows stay comparable whether or not the gap is
well-conditioned.

Why every row names its protocol: numbers made under the paper's protocol and under a
corrected one differ for reasons that have nothing to do with the teacher, so the
scorer refuses inputs of different protocols (:func:`harness.score.rows.run_protocol`)
and each row carries the one they share (``None`` for inputs older than protocols).
"""

from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from harness.errors import ConfigError, EmptyDataError, InputNotFoundError
from harness.files import read_jsonl
from harness.naming import SCORES_FILE, slug
from harness.score.rows import (
    ExtrinsicRow,
    IntrinsicRow,
    check_score_range,
    protocol_name,
    run_protocol,
)

logger = logging.getLogger(__name__)

Z_COLUMNS: tuple[str, ...] = (
    "prompt_diversity",
    "response_diversity",
    "rubric_score",
    "neg_log1p_perplexity",
)
SHARED_FAMILY = "*"  # a base/reference row shared by every student family
Cell = tuple[str, str]  # (teacher key, language)


def family_key(name: str) -> str:
    """Join key of a student family; ``*`` (shared anchors) stays as it is."""
    return name if name == SHARED_FAMILY else slug(name).lower()


def teacher_key(name: str) -> str:
    """Join key of a teacher: a full id (``google/gemma-3-4b-it``) and its slug agree."""
    return slug(name).lower()


@dataclass(frozen=True)
class GapPolicy:
    """When ``reference - base`` is too small for PGR to mean anything (module docstring)."""

    k: float = field(default=2.0, metadata={"help": "gap must exceed k combined stderrs"})
    floor: float = field(default=0.02, metadata={"help": "gap must exceed this absolute floor"})
    ceiling: float = field(default=1.0, metadata={"help": "best possible score (headroom gain)"})

    def __post_init__(self) -> None:
        for name in ("k", "floor"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise ConfigError(f"GapPolicy: field {name!r} must be a finite number >= 0")
        if not (math.isfinite(self.ceiling) and self.ceiling > 0):
            raise ConfigError(f"GapPolicy: field 'ceiling' is {self.ceiling}; must be a number > 0")


@dataclass(frozen=True)
class ScoreRow:
    """The scores of one (teacher, language, student family)."""

    teacher: str
    language: str
    student_family: str
    student_score: float
    base_score: float
    reference_score: float
    gap: float  # reference - base
    pgr: float | None  # None only when gap == 0 exactly
    z_score: float | None  # None when the cell has no intrinsic row or no usable column
    pg_score: float | None
    pgr_ill_conditioned: bool
    headroom_gain: float | None
    student_stderr: float | None = None
    gap_stderr: float | None = None
    gap_threshold: float | None = None
    benchmarks: tuple[str, ...] = ()
    protocol: str | None = None  # the inputs' canonical protocol; None: none recorded

    def __post_init__(self) -> None:
        where = f"score row ({self.teacher} {self.language} {self.student_family})"
        for name in ("teacher", "language", "student_family"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ConfigError(f"{where}: field {name!r} must be a non-empty string")
        for name in ("student_score", "base_score", "reference_score", "gap"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"{where}: field {name!r} is {value!r}; expected a finite number")
        for name in ("pgr", "z_score", "pg_score", "headroom_gain", "student_stderr", "gap_stderr"):
            value = getattr(self, name)
            if value is not None and (
                not isinstance(value, (int, float)) or not math.isfinite(value)
            ):
                raise ConfigError(
                    f"{where}: field {name!r} is {value!r}; expected a finite number or null"
                )
        if not isinstance(self.pgr_ill_conditioned, bool):
            raise ConfigError(f"{where}: field 'pgr_ill_conditioned' must be a bool")
        object.__setattr__(self, "protocol", protocol_name(self.protocol, where=where))

    def to_json(self) -> dict:
        """A JSON-ready dict (benchmarks as a list)."""
        out = asdict(self)
        out["benchmarks"] = list(self.benchmarks)
        return out


@dataclass(frozen=True)
class ZFit:
    """Intrinsic z-scores of a run and what went into them."""

    z: dict[Cell, float | None]
    columns: tuple[str, ...]  # the columns averaged
    dropped: dict[str, str]  # column -> why it was left out
    mean: dict[str, float]
    std: dict[str, float]
    imputed: frozenset[Cell] = frozenset()  # cells with too few valid rows: worst values


# Valid rows a column needs to be measurable (diversity compares pairs).
MIN_VALID_ROWS = {"prompt_diversity": 2, "response_diversity": 2}


def pgr_formula(student: ArrayLike, base: ArrayLike, reference: ArrayLike) -> np.ndarray:
    """``(student - base) / (reference - base)`` on floats or numpy arrays (broadcast).

    NaN where the gap is exactly 0 (a score row stores None there). The one copy of the
    formula: :func:`score_run` calls it on floats, the bootstrap on replicate arrays.
    """
    s, b, r = (np.asarray(v, dtype=float) for v in (student, base, reference))
    gap = r - b
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(gap != 0, (s - b) / gap, np.nan)


def headroom_formula(student: ArrayLike, base: ArrayLike, ceiling: float) -> np.ndarray:
    """``(student - base) / (ceiling - base)`` on floats or arrays; NaN where base >= ceiling."""
    s, b = np.asarray(student, dtype=float), np.asarray(base, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ceiling > b, (s - b) / (ceiling - b), np.nan)


def pg_formula(pgr: ArrayLike, z: ArrayLike) -> np.ndarray:
    """``(PGR + z) / 2`` on floats or arrays."""
    return (np.asarray(pgr, dtype=float) + np.asarray(z, dtype=float)) / 2


def intrinsic_columns(
    prompt_diversity: ArrayLike | None,
    response_diversity: ArrayLike | None,
    rubric_score: ArrayLike | None,
    perplexity: ArrayLike | None,
) -> dict[str, ArrayLike | None]:
    """The four z columns from the dataset values (floats, arrays or None)."""
    return {
        "prompt_diversity": prompt_diversity,
        "response_diversity": response_diversity,
        "rubric_score": rubric_score,
        "neg_log1p_perplexity": None if perplexity is None else -np.log1p(perplexity),
    }


def standardised_mean(values: np.ndarray, measured: np.ndarray | None = None) -> np.ndarray:
    """Mean over columns of each column's z-score: ``values[..., cell, column] -> z[..., cell]``.

    Each column is standardised over its measured cells (mean and population std,
    ddof=0, as scikit-learn's StandardScaler); an unmeasured entry (``measured`` False: a
    dataset with too few valid rows) first takes the column's worst measured value (see
    :func:`fit_z_scores`). Leading axes are independent fits, so the bootstrap refits
    the scaler of every replicate in one call.
    """
    values = np.asarray(values, dtype=float)
    mask = np.ones(values.shape[-2:], bool) if measured is None else np.asarray(measured, bool)
    n = mask.sum(axis=0)
    mean = np.where(mask, values, 0.0).sum(axis=-2, keepdims=True) / n
    spread = np.where(mask, values - mean, 0.0)
    std = np.sqrt((spread**2).sum(axis=-2, keepdims=True) / n)
    worst = np.where(mask, values, np.inf).min(axis=-2, keepdims=True)
    return ((np.where(mask, values, worst) - mean) / std).mean(axis=-1)


def _column_values(row: IntrinsicRow) -> dict[str, float | None]:
    columns = intrinsic_columns(
        row.prompt_diversity, row.response_diversity, row.rubric_score, row.perplexity
    )
    return {k: None if v is None else float(v) for k, v in columns.items()}


def fit_z_scores(rows: Sequence[IntrinsicRow]) -> ZFit:
    """Fit the four column z-scores over all (teacher, language) rows of the run.

    A column missing on any row, or constant over the run, has no z-score: it is dropped
    from the mean for every row (so all rows average the same columns) with a warning.

    Raises:
        EmptyDataError: no rows.
        ConfigError: the same (teacher, language) appears twice.
    """
    if not rows:
        raise EmptyDataError("no intrinsic rows to fit z-scores on")
    cells: dict[Cell, dict[str, float | None]] = {}
    # (cell, column) pairs that are missing because the dataset has too few valid rows
    # to measure them (diversity needs two), not because the metric was not run.
    starved: set[tuple[Cell, str]] = set()
    for row in rows:
        cell = (teacher_key(row.teacher), row.language.lower())
        if cell in cells:
            raise ConfigError(
                f"{row.source}: intrinsic row for {row.teacher} {row.language} appears twice"
            )
        cells[cell] = _column_values(row)
        n_valid = row.extra.get("n_valid")
        if isinstance(n_valid, int):
            starved |= {
                (cell, c) for c in Z_COLUMNS
                if cells[cell][c] is None and n_valid < MIN_VALID_ROWS.get(c, 1)
            }  # fmt: skip
    unmeasurable = {cell for cell, _ in starved}
    columns, dropped, mean, std = [], {}, {}, {}
    for column in Z_COLUMNS:
        measured = [v[column] for c, v in cells.items() if (c, column) not in starved]
        missing = [
            f"{t}/{lang}" for (t, lang), v in cells.items()
            if v[column] is None and ((t, lang), column) not in starved
        ]  # fmt: skip
        if missing or not measured:
            dropped[column] = f"missing for {len(missing)} row(s): {', '.join(missing[:5])}"
            continue
        values = np.array(measured, dtype=float)
        sd = float(values.std(ddof=0))
        if sd <= 1e-12 * max(1.0, float(np.abs(values).max())):
            dropped[column] = f"constant over the run ({values[0]:.6g}), so it has no z-score"
            continue
        columns.append(column)
        mean[column], std[column] = float(values.mean()), sd
        # A dataset with too few valid rows cannot be measured, but it is no better than
        # the worst measured one: it takes the run's worst value (every column is
        # higher-is-better) instead of dropping the column for every teacher.
    if unmeasurable:
        logger.warning(
            "z-score: %d cell(s) with too few valid rows take the run's worst value: %s",
            len(unmeasurable),
            sorted(unmeasurable)[:5],
        )
    for column, why in dropped.items():
        logger.warning("z-score: column %s dropped from the mean: %s", column, why)
    z: dict[Cell, float | None] = dict.fromkeys(cells)
    if columns:
        order = list(cells)
        matrix = np.array([[cells[cell][c] for c in columns] for cell in order], dtype=float)
        measured = np.array([[(cell, c) not in starved for c in columns] for cell in order])
        fitted = standardised_mean(np.where(measured, matrix, 0.0), measured)
        z = {cell: float(v) for cell, v in zip(order, fitted, strict=True)}
    if not columns:
        logger.warning("z-score: no usable intrinsic column; z and PG are null on every row")
    return ZFit(
        z=z, columns=tuple(columns), dropped=dropped, mean=mean, std=std,
        imputed=frozenset(unmeasurable),
    )  # fmt: skip


def _mean_score(
    rows: Mapping[str, ExtrinsicRow], benchmarks: Iterable[str]
) -> tuple[float, float | None]:
    """Mean over benchmarks and its stderr (independent benchmarks), None if any is unknown."""
    picked = [rows[b] for b in benchmarks]
    score = float(np.mean([r.score for r in picked]))
    if any(r.stderr is None for r in picked):
        return score, None
    return score, math.sqrt(sum(r.stderr**2 for r in picked)) / len(picked)  # type: ignore[operator]


def _index(rows: Iterable[ExtrinsicRow], key) -> dict:
    """Group rows by ``key(row)`` then benchmark, refusing duplicate benchmark rows."""
    out: dict = defaultdict(dict)
    for row in rows:
        group = out[key(row)]
        if row.benchmark in group:
            raise ConfigError(
                f"{row.source}: a second {row.role} score for {row.student_family} "
                f"{row.benchmark}_{row.language} (first from {group[row.benchmark].source}); remove one"
            )
        group[row.benchmark] = row
    return out


def score_run(
    extrinsic: Sequence[ExtrinsicRow],
    intrinsic: Sequence[IntrinsicRow] | None = None,
    *,
    z_scores: Mapping[tuple[str, str], float] | None = None,
    policy: GapPolicy | None = None,
    protocol: str | None = None,
) -> list[ScoreRow]:
    """Score every student of a run.

    Args:
        extrinsic: student, base and reference benchmark rows; each score and stderr
            must lie in ``[0, policy.ceiling]`` (the held-out score may go below 0).
        intrinsic: the run's intrinsic rows; z is fitted over the rows of the scored
            (teacher, language) cells only, and the others are named in a warning.
        z_scores: precomputed z per (teacher, language), used instead of ``intrinsic``
            (e.g. the paper's published z when reproducing its table).
        policy: when a gap is ill-conditioned, and the headroom ceiling.
        protocol: the protocol the inputs must have recorded; by default any one protocol
            (or none, for inputs older than protocols), recorded on every row.

    Raises:
        EmptyDataError: no student rows.
        ConfigError: a score or stderr out of range (named by file and line), inputs of
            different protocols (two named), a student lacks its target language, or
            base/reference lack one of the student's benchmarks.
    """
    policy = policy or GapPolicy()
    check_score_range(extrinsic, policy.ceiling)
    recorded = run_protocol([*extrinsic, *(intrinsic or ())], expected=protocol)
    students = _index(
        (
            r
            for r in extrinsic
            if r.role == "student" and r.language.lower() == (r.target_language or "").lower()
        ),
        lambda r: (family_key(r.student_family), teacher_key(r.teacher), r.language.lower()),
    )
    if not students:
        raise EmptyDataError("no student rows scored in their target language")
    if z_scores is not None:
        z = {(teacher_key(t), lang.lower()): float(v) for (t, lang), v in z_scores.items()}
    elif intrinsic:
        z = _fit_scored_cells(intrinsic, {(t, lang) for _, t, lang in students})
    else:
        logger.warning("no intrinsic metrics given: z and PG are null on every row")
        z = {}
    suites: dict[tuple[str, str], set[tuple[str, ...]]] = defaultdict(set)
    for (family, _, lang), rows in students.items():
        suites[(family, lang)].add(tuple(sorted(rows)))
    for (family, lang), found in suites.items():
        if len(found) > 1:  # a mean over other benchmarks is not comparable
            raise ConfigError(
                f"students of family {family} in {lang} were evaluated on different benchmark "
                f"sets {sorted(found)}; evaluate the missing benchmarks or drop them"
            )
    base = _index(
        (r for r in extrinsic if r.role == "base"),
        lambda r: (family_key(r.student_family), r.language.lower()),
    )
    ref = _index(
        (r for r in extrinsic if r.role == "reference"),
        lambda r: (family_key(r.student_family), r.language.lower()),
    )
    out = []
    for (family, teacher, lang), rows in sorted(students.items()):
        benchmarks = tuple(sorted(rows))
        any_row = next(iter(rows.values()))
        anchors = []
        for role, table in (("base", base), ("reference", ref)):
            group = table.get((family, lang)) or table.get((SHARED_FAMILY, lang), {})
            lacking = [b for b in benchmarks if b not in group]
            if lacking:
                raise ConfigError(
                    f"{any_row.source}: no {role} score for family {any_row.student_family} on "
                    f"{', '.join(f'{b}_{lang}' for b in lacking)}; PGR needs the same benchmarks for all three"
                )
            anchors.append(_mean_score(group, benchmarks))
        (b, se_b), (r, se_r) = anchors
        s, se_s = _mean_score(rows, benchmarks)
        zc = z.get((teacher, lang))
        out.append(
            _score_cell(any_row, lang, s, se_s, b, se_b, r, se_r, zc, benchmarks, policy, recorded)
        )
    missing_z = sorted({(r.teacher, r.language) for r in out if r.z_score is None})
    if z and missing_z:
        logger.warning(
            "no intrinsic z-score for %d (teacher, language) cell(s): %s",
            len(missing_z),
            missing_z[:5],
        )
    return out


def _fit_scored_cells(
    intrinsic: Sequence[IntrinsicRow], scored: set[Cell]
) -> dict[Cell, float | None]:
    """z over exactly the scored cells; intrinsic rows of other cells are named and left out.

    Why: z is standardised over the cells in the fit, so a dataset nobody trained a
    student on (a teacher still training, a language dropped) would shift every scored
    teacher's z, even flip its sign, without changing anything about that teacher.
    """
    kept, extra = [], []
    for row in intrinsic:
        cell = (teacher_key(row.teacher), row.language.lower())
        (kept if cell in scored else extra).append(row)
    if extra:
        logger.warning(
            "z-score: %d intrinsic row(s) have no scored student and are left out of the z fit: %s",
            len(extra),
            ", ".join(f"{r.teacher}/{r.language}" for r in extra),
        )
    if not kept:
        logger.warning(
            "z-score: no intrinsic row matches a scored (teacher, language) cell; "
            "z and PG are null on every row"
        )
        return {}
    return fit_z_scores(kept).z


def _score_cell(
    row, lang, s, se_s, b, se_b, r, se_r, z, benchmarks, policy: GapPolicy, protocol: str | None
) -> ScoreRow:
    """One ScoreRow from the three language means (see the module docstring for why)."""
    gap = r - b
    se_gap = math.sqrt(se_b**2 + se_r**2) if se_b is not None and se_r is not None else None
    threshold = policy.floor if se_gap is None else max(policy.k * se_gap, policy.floor)
    pgr, headroom = (
        None if math.isnan(v) else float(v)
        for v in (pgr_formula(s, b, r), headroom_formula(s, b, policy.ceiling))
    )
    return ScoreRow(
        teacher=row.teacher,
        language=lang,
        student_family=row.student_family,
        student_score=s,
        base_score=b,
        reference_score=r,
        gap=gap,
        pgr=pgr,
        z_score=z,
        pg_score=float(pg_formula(pgr, z)) if pgr is not None and z is not None else None,
        pgr_ill_conditioned=bool(gap <= threshold),
        headroom_gain=headroom,
        student_stderr=se_s,
        gap_stderr=se_gap,
        gap_threshold=threshold,
        benchmarks=benchmarks,
        protocol=protocol,
    )


def write_scores(rows: Sequence[ScoreRow], path: str | Path) -> Path:
    """Write rows as JSONL (one ScoreRow per line); returns the file written."""
    from harness.files import atomic_write_text

    text = "".join(json.dumps(row.to_json(), ensure_ascii=False) + "\n" for row in rows)
    return atomic_write_text(path, text)


def read_scores(path: str | Path) -> list[ScoreRow]:
    """Read ``scores.jsonl`` (or the folder holding it) back into ScoreRows."""
    path = Path(path)
    if path.is_dir():
        path = path / SCORES_FILE
    if not path.is_file():
        raise InputNotFoundError(f"{path} not found; run `polyglot-harness score` first")
    rows = []
    for where, obj in read_jsonl(path):
        benchmarks = obj.get("benchmarks", [])
        if not isinstance(benchmarks, list) or not all(isinstance(b, str) for b in benchmarks):
            raise ConfigError(f"{where}: field 'benchmarks' must be a list of benchmark names")
        obj["benchmarks"] = tuple(benchmarks)
        try:
            rows.append(ScoreRow(**obj))
        except TypeError as exc:
            raise ConfigError(f"{where}: not a score row ({exc})") from exc
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from exc
    if not rows:
        raise EmptyDataError(f"{path} holds no score rows")
    return rows
