"""Predict a teacher's PG-Score (or PGR) from its intrinsic metrics alone.

Why: training and evaluating students costs GPU-days per teacher, measuring a
teacher's data qualities (diversity, fluency, rubric) costs minutes. A linear model
fitted on a scored grid says what PG a new teacher would likely get, with a prediction
interval, and leave-one-teacher-out (LOTO) cross-validation says how far to trust it.

Model: per student family, least squares (``ridge`` > 0: ridge) of the target on the
standardised intrinsic features of each (teacher, language) row; the standardisation
is fitted inside every fold. The prediction interval for a new row x0 is
``yhat +/- t(dof) * s * sqrt(1 + v(x0))`` with ``v`` the variance factor of the fitted
mean (``x0' (X'X)^-1 x0`` for OLS; the ridge sandwich otherwise) and ``dof = n -
trace(hat matrix)``. It assumes independent rows, which rows of one teacher in several
languages are not; the LOTO coverage reports how well the intervals hold anyway.

Why LOTO and not the paper's in-sample R^2 (0.664 for its regression on data
qualities): a teacher's languages share its data style, so any fold that keeps some of
a teacher's rows in training scores the model partly on rows it has seen.

Why PGR is the honest target: ``PG = (PGR + z) / 2`` and ``z`` is an affine function of
the same four intrinsic metrics (standardised, averaged). Least squares is linear in
the target, so the fitted PG model is exactly half the PGR model plus ``z`` / 2: half of
PG is "predicted" from its own inputs, which inflates PG's R^2. Both CV R^2 values are
reported; a PG prediction is only as good as the PGR one.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.errors import ConfigError, EmptyDataError, InputNotFoundError
from harness.files import atomic_write_text, read_jsonl
from harness.naming import SUMMARY_FILE
from harness.score.pgscore import (
    SCORES_FILE,
    Z_COLUMNS,
    ScoreRow,
    _column_values,
    family_key,
    fit_z_scores,
    teacher_key,
)
from harness.score.rows import IntrinsicRow

TARGETS: dict[str, str] = {"pg": "pg_score", "pgr": "pgr"}  # --target -> ScoreRow field
LENGTH_FEATURES: tuple[str, ...] = ("prompt_length", "response_length")
LEVELS: tuple[float, ...] = (0.90, 0.95)  # interval levels whose LOTO coverage is reported
PAPER_IN_SAMPLE_R2 = 0.664  # METHOD.md: the paper's linear model on its PCA components
MIN_TEACHERS = 3
PREDICTED_FILE = "predicted.jsonl"


def feature_values(row: IntrinsicRow, features: Sequence[str]) -> dict[str, float | None]:
    """The model's inputs from one intrinsic row: the scorer's z columns, then lengths."""
    values = {**_column_values(row), **{f: getattr(row, f) for f in LENGTH_FEATURES}}
    return {f: values[f] for f in features}


@dataclass(frozen=True)
class LinearFit:
    """A fitted (ridge) least-squares model on standardised features."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # intercept first
    bread: np.ndarray  # (D'D + P)^-1
    meat: np.ndarray  # D'D
    sigma2: float
    dof: float
    r2: float

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Point predictions and predictive standard errors (noise + estimate)."""
        d = _design(np.atleast_2d(x), self.mean, self.scale)
        cov = self.bread @ self.meat @ self.bread
        v = np.einsum("ij,jk,ik->i", d, cov, d)
        return d @ self.coef, np.sqrt(self.sigma2 * (1 + v))

    def interval(self, x: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(prediction, lower, upper) of the two-sided ``level`` prediction interval."""
        from scipy import stats

        yhat, se = self.predict(x)
        half = stats.t.ppf(0.5 + level / 2, self.dof) * se
        return yhat, yhat - half, yhat + half


def _design(x: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return np.column_stack([np.ones(len(x)), (x - mean) / scale])


def fit_linear(x: np.ndarray, y: np.ndarray, *, ridge: float = 0.0) -> LinearFit:
    """Least squares (``ridge`` > 0: penalised, intercept unpenalised) on z-scored features.

    A feature constant over the rows carries no information and is kept at weight 0
    (its scale is set to 1 and the pseudo-inverse ignores the zero column).

    Raises:
        ConfigError: a negative or non-finite ridge penalty.
        EmptyDataError: no residual degrees of freedom (too few rows for the features).
    """
    _check_ridge(ridge)
    x, y = np.asarray(x, float), np.asarray(y, float)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 1e-12 * np.maximum(1.0, np.abs(mean)), scale, 1.0)
    d = _design(x, mean, scale)
    meat = d.T @ d
    penalty = ridge * np.diag([0.0] + [1.0] * x.shape[1])
    bread = np.linalg.pinv(meat + penalty)
    coef = bread @ d.T @ y
    dof = len(y) - float(np.trace(d @ bread @ d.T))
    if dof < 0.5:
        raise EmptyDataError(
            f"{len(y)} rows cannot fit {x.shape[1]} features and an intercept; "
            "give more teachers or languages, or fewer features"
        )
    resid = y - d @ coef
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1 - float(resid @ resid) / ss_tot if ss_tot > 0 else 0.0
    return LinearFit(mean, scale, coef, bread, meat, float(resid @ resid) / dof, dof, r2)


@dataclass(frozen=True)
class Table:
    """The rows of one student family: who, the features and the target."""

    family: str
    teachers: tuple[str, ...]  # one per row
    languages: tuple[str, ...]
    x: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class CVResult:
    """Leave-one-teacher-out predictions and what they say about the model."""

    r2: float
    in_sample_r2: float
    coverage: dict[float, float]  # level -> share of held-out rows inside their interval
    predictions: np.ndarray
    n_rows: int
    n_teachers: int


def build_tables(
    scores: Sequence[ScoreRow],
    intrinsic: Sequence[IntrinsicRow],
    *,
    target: str = "pg",
    features: Sequence[str] = Z_COLUMNS,
) -> dict[str, Table]:
    """One table per student family, joining score rows to their intrinsic rows.

    Raises:
        ConfigError: unknown target; a scored cell without an intrinsic row, or with a
            missing (or NaN) feature or target, named cell by cell.
    """
    if target not in TARGETS:
        raise ConfigError(f"target {target!r} is not one of {', '.join(TARGETS)}")
    by_cell = {(teacher_key(r.teacher), r.language.lower()): r for r in intrinsic}
    rows: dict[str, list[tuple[str, str, list[float], float]]] = defaultdict(list)
    problems: list[str] = []
    for s in scores:
        cell = f"{s.teacher}/{s.language}/{s.student_family}"
        row = by_cell.get((teacher_key(s.teacher), s.language.lower()))
        if row is None:
            problems.append(f"{cell}: no intrinsic row")
            continue
        values = feature_values(row, features)
        y = getattr(s, TARGETS[target])
        bad = [f for f, v in values.items() if v is None] + ([TARGETS[target]] if y is None else [])
        if bad:
            problems.append(f"{cell}: {', '.join(bad)} missing or NaN")
            continue
        rows[s.student_family].append((s.teacher, s.language, list(values.values()), y))
    if problems:
        raise ConfigError(
            f"{len(problems)} scored cell(s) cannot be fitted: {'; '.join(problems[:4])}"
            f"{' ...' if len(problems) > 4 else ''}; measure the missing metrics "
            "(`polyglot-harness intrinsic`) or score with --intrinsic"
        )
    return {
        fam: Table(fam, tuple(r[0] for r in rs), tuple(r[1] for r in rs),
                   np.array([r[2] for r in rs], float), np.array([r[3] for r in rs], float))
        for fam, rs in sorted(rows.items())
    }  # fmt: skip


def _check_ridge(ridge: float) -> None:
    if not (math.isfinite(ridge) and ridge >= 0):
        raise ConfigError(f"ridge is {ridge}; must be a finite number >= 0 (0: least squares)")


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ConfigError(f"interval level is {level}; must lie strictly between 0 and 1")


def _check_teachers(table: Table) -> None:
    n = len(set(table.teachers))
    if n < MIN_TEACHERS:
        raise EmptyDataError(
            f"student family {table.family} has scores of {n} teacher(s); predict needs at "
            f"least {MIN_TEACHERS} to fit and cross-validate"
        )


def loto_cv(table: Table, *, ridge: float = 0.0, levels: Sequence[float] = LEVELS) -> CVResult:
    """Leave each teacher out, fit on the others, predict its rows with intervals.

    CV R^2 is ``1 - sum (y - yhat_cv)^2 / sum (y - mean y)^2`` over all held-out rows
    (one pooled figure, not a mean of per-fold R^2, which a fold of three rows makes
    meaningless).

    Raises:
        ConfigError: an interval level outside (0, 1), or a bad ridge penalty.
        EmptyDataError: fewer than three teachers, or too few rows in a fold.
    """
    for level in levels:
        _check_level(level)
    _check_ridge(ridge)
    _check_teachers(table)
    teachers = np.array(table.teachers)
    yhat = np.empty(len(table.y))
    inside = {level: np.zeros(len(table.y), bool) for level in levels}
    for teacher in sorted(set(table.teachers)):
        out = teachers == teacher
        fit = fit_linear(table.x[~out], table.y[~out], ridge=ridge)
        for level in levels:
            pred, lo, hi = fit.interval(table.x[out], level)
            inside[level][out] = (lo <= table.y[out]) & (table.y[out] <= hi)
        yhat[out] = pred
    ss_tot = float(((table.y - table.y.mean()) ** 2).sum())
    r2 = 1 - float(((table.y - yhat) ** 2).sum()) / ss_tot if ss_tot > 0 else float("nan")
    return CVResult(
        r2=r2,
        in_sample_r2=fit_linear(table.x, table.y, ridge=ridge).r2,
        coverage={level: float(v.mean()) for level, v in inside.items()},
        predictions=yhat,
        n_rows=len(table.y),
        n_teachers=len(set(table.teachers)),
    )


@dataclass(frozen=True)
class Prediction:
    """The predicted score of one (new teacher, language, student family)."""

    teacher: str
    language: str
    student_family: str
    target: str
    value: float
    lo: float
    hi: float
    level: float
    z_score: float | None
    cv: CVResult = field(repr=False)


@dataclass(frozen=True)
class Predictions:
    """What :func:`predict_teachers` made: its predictions, and the cells it did not make.

    Why ``skipped`` travels with the rows: a new row in a language its family was not
    scored in is not predicted, and the caller (the ``predict`` command) must say so
    beside the predictions rather than leave them looking complete.
    """

    rows: list[Prediction]
    skipped: tuple[str, ...] = ()  # "teacher language family" of each cell not predicted


def grid_features(
    scores: Sequence[ScoreRow], grid: Sequence[IntrinsicRow], *, with_lengths: bool = False
) -> tuple[tuple[str, ...], dict[str, str]]:
    """The features to fit on: the intrinsic columns measured on the grid's scored cells.

    Why not always all four: a grid may not measure a metric at all (the example grid
    runs no rubric judge); the scorer's z then averages the others, and the predictor
    does the same rather than refusing the whole grid. A column measured on some cells
    only is kept, so :func:`build_tables` names the cells that lack it. Returns the
    features and, per left-out column, why.

    Raises:
        EmptyDataError: no intrinsic column is measured on any scored cell.
    """
    scored = {(teacher_key(s.teacher), s.language.lower()) for s in scores}
    values = [
        _column_values(r) for r in grid if (teacher_key(r.teacher), r.language.lower()) in scored
    ]
    kept = tuple(c for c in Z_COLUMNS if any(v[c] is not None for v in values))
    if not kept:
        raise EmptyDataError(
            "no intrinsic metric is measured on the grid's scored cells; measure them with "
            "`polyglot-harness intrinsic` (or pass --intrinsic)"
        )
    left_out = {
        c: "measured on none of the grid's scored cells" for c in Z_COLUMNS if c not in kept
    }
    return (*kept, *(LENGTH_FEATURES if with_lengths else ())), left_out


def new_teacher_z(
    grid: Sequence[IntrinsicRow], scored: set[tuple[str, str]]
) -> Callable[[IntrinsicRow], float | None]:
    """A function giving a new row's z against the grid's fit over the scored cells.

    Refitting z with the new teacher included would move every measured teacher's z and
    so their published PG; standardising with the grid's mean and std does not.
    """
    fit = fit_z_scores([r for r in grid if (teacher_key(r.teacher), r.language.lower()) in scored])

    def z(row: IntrinsicRow) -> float | None:
        values = _column_values(row)
        if not fit.columns or any(values[c] is None for c in fit.columns):
            return None
        return float(np.mean([(values[c] - fit.mean[c]) / fit.std[c] for c in fit.columns]))  # type: ignore[operator]

    return z


def predict_teachers(
    scores: Sequence[ScoreRow],
    grid: Sequence[IntrinsicRow],
    new: Sequence[IntrinsicRow],
    *,
    target: str = "pg",
    features: Sequence[str] = Z_COLUMNS,
    ridge: float = 0.0,
    level: float = 0.95,
) -> Predictions:
    """Fit on the scored grid (per student family) and predict every new intrinsic row.

    A new row is predicted only for the families scored in its language: elsewhere the
    family has no base and reference there (a predicted PGR of nothing), and the fit never
    saw that language. Each such (teacher, language, family) is named in the result's
    ``skipped``, for the caller to report.

    Raises:
        ConfigError: a new teacher already has measured scores, a new row lacks a
            feature (named), two new rows are one (teacher, language), or one teacher is
            spelt two ways; see also :func:`build_tables`.
        EmptyDataError: no new rows, fewer than three scored teachers in a family, or no
            new row in a language any family was scored in.
    """
    if not new:
        raise EmptyDataError("no intrinsic rows for the teacher to predict")
    _check_level(level)
    _check_ridge(ridge)
    _check_new_rows(new)
    measured = {teacher_key(s.teacher) for s in scores}
    again = sorted({r.teacher for r in new if teacher_key(r.teacher) in measured})
    if again:
        raise ConfigError(
            f"teacher {again[0]} already has measured scores in the grid; predict is for "
            "teachers without students (its LOTO row is in the cross-validation)"
        )
    x_new = []
    for row in new:
        values = feature_values(row, features)
        missing = [f for f, v in values.items() if v is None]
        if missing:
            raise ConfigError(
                f"{row.source}: {row.teacher}/{row.language} lacks {', '.join(missing)} (missing "
                "or NaN); predict needs the metrics the grid was fitted on"
            )
        x_new.append(list(values.values()))
    tables = build_tables(scores, grid, target=target, features=features)
    z_of = new_teacher_z(grid, {(teacher_key(s.teacher), s.language.lower()) for s in scores})
    z_new = [z_of(row) for row in new]
    out, left = [], []
    for family, table in tables.items():
        cv = loto_cv(table, ridge=ridge, levels=sorted({*LEVELS, level}))
        fit = fit_linear(table.x, table.y, ridge=ridge)
        yhat, lo, hi = fit.interval(np.array(x_new), level)
        scored_in = {lang.lower() for lang in table.languages}
        for row, z, p, a, b in zip(new, z_new, yhat, lo, hi, strict=True):
            if row.language.lower() not in scored_in:
                left.append(f"{row.teacher} {row.language.lower()} {family}")
                continue
            out.append(Prediction(row.teacher, row.language.lower(), family, target,
                                  float(p), float(a), float(b), level, z, cv))  # fmt: skip
    if not out:
        langs = sorted({r.language.lower() for r in new})
        raise EmptyDataError(
            f"no family of the grid was scored in {', '.join(langs)}: a prediction there has "
            "no base or reference to be a PG of; give the metrics of a language the grid has"
        )
    return Predictions(out, tuple(left))


def _check_new_rows(new: Sequence[IntrinsicRow]) -> None:
    """One row per new (teacher, language), and one spelling per teacher.

    Why: two rows of one cell would both be predicted and written (predicted.jsonl then
    holds two numbers for one cell), and ``org/New`` beside ``org/new`` would show as
    two teachers although every join treats them as one.
    """
    cells: dict[tuple[str, str], IntrinsicRow] = {}
    spelling: dict[str, str] = {}
    for row in new:
        key = teacher_key(row.teacher)
        first = spelling.setdefault(key, row.teacher)
        if first != row.teacher:
            raise ConfigError(
                f"{row.source}: teacher {row.teacher!r} and {first!r} differ only by case or "
                "spacing, and are one teacher to the scorer; write it one way"
            )
        cell = (key, row.language.lower())
        if cell in cells:
            raise ConfigError(
                f"{row.source}: a second row for {row.teacher} {row.language} (first at "
                f"{cells[cell].source}); keep one"
            )
        cells[cell] = row


def predicted_rows(
    predictions: Sequence[Prediction], scores: Sequence[ScoreRow]
) -> list[dict[str, object]]:
    """scores.jsonl-shaped rows marked ``predicted: true``, with the interval.

    The measured fields stay null; the anchors (base, reference, gap and its
    conditioning) of the family and language are the grid's, since a new teacher's
    student would be compared with the same ones. For a PGR target, PG follows as
    ``(PGR + z) / 2`` with the interval halved (z is known exactly, not predicted).
    """
    anchors = {(family_key(s.student_family), s.language.lower()): s for s in scores}
    rows = []
    for p in predictions:
        a = anchors.get((family_key(p.student_family), p.language))
        pg = pg_lo = pg_hi = None
        if p.target == "pg":
            pg, pg_lo, pg_hi = p.value, p.lo, p.hi
        elif p.z_score is not None:
            pg, pg_lo, pg_hi = ((v + p.z_score) / 2 for v in (p.value, p.lo, p.hi))
        rows.append({
            "teacher": p.teacher, "language": p.language, "student_family": p.student_family,
            "student_score": None, "base_score": a and a.base_score,
            "reference_score": a and a.reference_score, "gap": a and a.gap,
            "pgr": p.value if p.target == "pgr" else None, "z_score": p.z_score,
            "pg_score": pg, "pgr_ill_conditioned": a and a.pgr_ill_conditioned,
            "headroom_gain": None, "student_stderr": None, "gap_stderr": a and a.gap_stderr,
            "gap_threshold": a and a.gap_threshold, "benchmarks": list(a.benchmarks) if a else [],
            "protocol": getattr(a, "protocol", None),
            "predicted": True, "target": TARGETS[p.target], "lo": p.lo, "hi": p.hi,
            "level": p.level, "pg_lo": pg_lo, "pg_hi": pg_hi, "cv_r2": p.cv.r2,
            "cv_teachers": p.cv.n_teachers,
        })  # fmt: skip
    return rows


def locate_grid(path: str | Path) -> tuple[Path, Path | None]:
    """(scores.jsonl, the grid's intrinsic summary or None) from what the user points at.

    Accepts a grid root (``scores/scores.jsonl`` + ``metrics/summary.jsonl``), a scores
    folder, or a scores file; the summary is looked for where the grid writes it.

    Raises:
        InputNotFoundError: no scores.jsonl there.
    """
    path = Path(path)
    if (path / "scores" / SCORES_FILE).is_file():
        path = path / "scores"
    scores = path / SCORES_FILE if path.is_dir() else path
    if not scores.is_file():
        raise InputNotFoundError(
            f"no {SCORES_FILE} at {path}; pass a grid folder, a scores folder or the file "
            "(`polyglot-harness score` writes it)"
        )
    summary = scores.parent.parent / "metrics" / SUMMARY_FILE
    return scores, summary if summary.is_file() else None


def _cell_key(row: dict[str, object]) -> tuple[str, str, str]:
    return (
        teacher_key(str(row["teacher"])),
        str(row["language"]).lower(),
        family_key(str(row["student_family"])),
    )


def merge_predicted(path: str | Path, rows: Sequence[dict[str, object]]) -> Path:
    """Write ``rows`` into ``path``, replacing earlier predictions of the same cells only.

    Why merge: predicting a second new teacher must not erase the first one's rows.
    Why every kept row must be marked ``predicted``: ``--out`` pointed at scores.jsonl
    (or any other JSONL) would otherwise be rewritten with predictions mixed into it.

    Raises:
        ConfigError: the file holds a line that is not a predicted row (named); the file
            is then left as it was.
    """
    path = Path(path)
    new = {_cell_key(r) for r in rows}
    kept = []
    for where, obj in read_jsonl(path) if path.is_file() else ():
        try:
            if obj.get("predicted") is not True:
                raise KeyError("'predicted': true")
            if _cell_key(obj) not in new:
                kept.append(obj)
        except KeyError as exc:
            raise ConfigError(
                f"{where}: not a predicted row (no {exc.args[0]}); name another --out or move "
                "the file away"
            ) from exc
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in [*kept, *rows])
    return atomic_write_text(path, text)
