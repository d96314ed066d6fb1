"""The Polyglot Score (PG-Score) as a Hugging Face ``evaluate`` metric.

A thin adapter: the rows are turned into the scorer's own input records and scored by
``harness.score.pgscore.score_run``, the function ``polyglot-harness score`` runs, so
the metric and the harness cannot disagree. Nothing of the formula is restated here.

Intervals: PGR's comes from the delta method on the three scores' standard errors
(when given); it is left out (None) on rows whose gap ``reference - base`` is
ill-conditioned, where a ratio's interval is unbounded (Fieller). z has no interval
(it is a deterministic function of the intrinsic metrics), so PG's interval is PGR's
halved.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import datasets
import evaluate

from harness.errors import ConfigError
from harness.score.pgscore import GapPolicy, family_key, score_run, teacher_key
from harness.score.rows import ExtrinsicRow, IntrinsicRow

_CITATION = """\
@article{miranda2026polyglot,
  title   = {Polyglot Teachers: Evaluating Language Models for Multilingual Synthetic Data Generation},
  author  = {Miranda and Vuli{\\'c} and Korhonen},
  journal = {arXiv preprint arXiv:2604.11290},
  year    = {2026}
}
"""

_DESCRIPTION = """\
PG-Score rates a language model as a *teacher* of synthetic fine-tuning data in one
language, for one student family: PG = (PGR + z) / 2, where PGR = (student - base) /
(reference - base) is the share of the base-to-reference gap the student recovered after
training on the teacher's data, and z is the mean z-score (over the teachers scored
together) of the data's prompt diversity, response diversity, rubric score and
-log1p(perplexity).
"""

_KWARGS_DESCRIPTION = f"""
Args (one entry per (teacher, language, student family) cell, all lists of equal length):
    teacher (`list` of `str`): the teacher that wrote the student's training data.
    language (`list` of `str`): ISO 639-1 code of the data and the benchmarks.
    family (`list` of `str`): the student family (base model) trained.
    student (`list` of `float`): the student's mean benchmark score in that language.
    base (`list` of `float`): the family's untrained base on the same benchmarks.
    reference (`list` of `float`): the family's reference model on the same benchmarks.
    prompt_diversity, response_diversity, rubric_score, perplexity (`list` of `float`):
        the teacher's intrinsic metrics in that language (default configuration).
    z_score (`list` of `float`): precomputed z instead of the four metrics
        (configuration "z", e.g. to reproduce published rows); None: no z, PG is None.
    student_stderr, base_stderr, reference_stderr (`list` of `float`, optional): standard
        errors of the three scores, for PGR's interval.
    gap_k (`float`, default {GapPolicy.k:g}), gap_floor (`float`, default {GapPolicy.floor:g}): a
        gap is ill-conditioned when reference - base <= max(gap_k * its stderr, gap_floor).
    ceiling (`float`, default {GapPolicy.ceiling:g}): best possible score, for headroom gain.
    confidence (`float`, default 0.95): level of the intervals, strictly between 0 and 1.
Returns:
    A dict of lists in input order: teacher, language, family, pgr, pgr_lo, pgr_hi, z,
    pg_score, pg_score_lo, pg_score_hi, headroom_gain, pgr_ill_conditioned; plus
    confidence and interval_method.
Examples:
    >>> import evaluate
    >>> from harness.metrics import path
    >>> pg = evaluate.load(path("pg_score"), config_name="z")
    >>> out = pg.compute(teacher=["t1", "t2"], language=["de", "de"], family=["s", "s"],
    ...                  student=[0.45, 0.35], base=[0.3, 0.3], reference=[0.5, 0.5],
    ...                  z_score=[0.5, -0.5])
    >>> [round(v, 3) for v in out["pg_score"]]
    [0.625, -0.125]
"""

BENCHMARK = "mean"  # the inputs are already means over a language's benchmarks
METRIC_COLUMNS = ("prompt_diversity", "response_diversity", "rubric_score", "perplexity")
_CELL = {
    "teacher": datasets.Value("string"),
    "language": datasets.Value("string"),
    "family": datasets.Value("string"),
    "student": datasets.Value("float64"),
    "base": datasets.Value("float64"),
    "reference": datasets.Value("float64"),
}


def _optional(values: Sequence[float | None] | None, n: int, name: str) -> list[float | None]:
    if values is None:
        return [None] * n
    if len(values) != n:
        raise ConfigError(f"{name} has {len(values)} entries for {n} rows; give one per row")
    return list(values)


def _same(a: Any, b: Any) -> bool:
    """Equal, NaN equal to NaN: a NaN given twice is one NaN, refused later by the
    scorer's own check that names the field, not "two different values: nan and nan"."""
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def _same_per_key(items: list[tuple[Any, Any]], what: str) -> dict[Any, Any]:
    """One value per key; two rows disagreeing on it is an input error, named."""
    out: dict[Any, Any] = {}
    for key, value in items:
        if not _same(out.setdefault(key, value), value):
            raise ConfigError(f"rows of {key} give two different {what}: {out[key]} and {value}")
    return out


def _check_confidence(confidence: Any) -> None:
    """0 < confidence < 1: 95 or 1.5 gave NaN bounds, 1 infinite ones, a negative level
    an interval that excludes its own point, all without a word."""
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, (int, float))
        or not (0 < confidence < 1)
    ):
        raise ConfigError(
            f"confidence is {confidence!r}; must lie strictly between 0 and 1 (e.g. 0.95)"
        )


def _z_values(cells: list[tuple[str, str]], z_score: Sequence[Any] | None) -> dict:
    """z per cell, for the "z" configuration; a null z leaves that cell without z (and PG),
    as the scorer leaves a cell without intrinsic metrics; NaN or infinite is refused."""
    if z_score is None:
        raise ConfigError('configuration "z" needs z_score, one per row')
    for i, v in enumerate(z_score):
        if v is not None and (isinstance(v, bool) or not math.isfinite(v)):
            raise ConfigError(f"row {i}: z_score is {v!r}; give a finite number or None")
    z = _same_per_key(list(zip(cells, z_score, strict=True)), "z scores")
    return {cell: v for cell, v in z.items() if v is not None}


def _delta_stderr(s, se_s, b, se_b, r, se_r) -> float | None:
    """PGR's delta-method stderr: d = s - b and g = r - b share b's error (covariance)."""
    if None in (se_s, se_b, se_r):
        return None
    d, g = s - b, r - b
    var_d, var_g, cov = se_s**2 + se_b**2, se_r**2 + se_b**2, se_b**2
    return math.sqrt(max(var_d / g**2 - 2 * d * cov / g**3 + d**2 * var_g / g**4, 0.0))


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class PgScore(evaluate.Metric):
    """PG-Score, PGR and z per (teacher, language, student family) cell."""

    def _info(self) -> evaluate.MetricInfo:
        extra = ("z_score",) if self.config_name == "z" else METRIC_COLUMNS
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {**_CELL, **{name: datasets.Value("float64") for name in extra}}
            ),
            reference_urls=["https://arxiv.org/abs/2604.11290"],
        )

    def _compute(
        self,
        teacher: list[str],
        language: list[str],
        family: list[str],
        student: list[float],
        base: list[float],
        reference: list[float],
        z_score: list[float] | None = None,
        prompt_diversity: list[float | None] | None = None,
        response_diversity: list[float | None] | None = None,
        rubric_score: list[float | None] | None = None,
        perplexity: list[float | None] | None = None,
        student_stderr: list[float] | None = None,
        base_stderr: list[float] | None = None,
        reference_stderr: list[float] | None = None,
        gap_k: float = GapPolicy.k,  # the scorer's defaults, not a second copy
        gap_floor: float = GapPolicy.floor,
        ceiling: float = GapPolicy.ceiling,
        confidence: float = 0.95,
    ) -> dict[str, Any]:
        from scipy import stats

        _check_confidence(confidence)
        n = len(teacher)
        se_s = _optional(student_stderr, n, "student_stderr")
        se_b = _optional(base_stderr, n, "base_stderr")
        se_r = _optional(reference_stderr, n, "reference_stderr")
        # keyed as the scorer joins them: "DE" and "de" rows share (or clash on) one anchor
        anchors = _same_per_key(
            [((family_key(family[i]), language[i].lower()), (base[i], se_b[i], reference[i], se_r[i]))
             for i in range(n)],
            "base/reference scores",
        )  # fmt: skip
        extrinsic = [
            ExtrinsicRow("student", family[i], BENCHMARK, language[i], student[i], se_s[i],
                         teacher=teacher[i], target_language=language[i], source=f"row {i}")
            for i in range(n)
        ]  # fmt: skip
        for (fam, lang), (b, sb, r, sr) in anchors.items():
            extrinsic.append(ExtrinsicRow("base", fam, BENCHMARK, lang, b, sb, source="base"))
            extrinsic.append(ExtrinsicRow("reference", fam, BENCHMARK, lang, r, sr, source="reference"))  # fmt: skip
        policy = GapPolicy(k=gap_k, floor=gap_floor, ceiling=ceiling)
        # keyed as the scorer joins cells; the first spelling of a teacher names its row
        cells = [(teacher_key(teacher[i]), language[i].lower()) for i in range(n)]
        names = {cell: (teacher[i], language[i]) for i, cell in reversed(list(enumerate(cells)))}
        if self.config_name == "z":
            z = {names[c]: v for c, v in _z_values(cells, z_score).items()}
            scored = score_run(extrinsic, z_scores=z, policy=policy)
        else:
            columns = (prompt_diversity, response_diversity, rubric_score, perplexity)
            metrics = _same_per_key(list(zip(cells, zip(*columns, strict=True), strict=True)), "intrinsic metrics")  # fmt: skip
            intrinsic = [IntrinsicRow(*names[cell], *values) for cell, values in metrics.items()]
            scored = score_run(extrinsic, intrinsic, policy=policy)
        by_cell = {
            (teacher_key(s.teacher), s.language, family_key(s.student_family)): s for s in scored
        }
        q = float(stats.norm.ppf(0.5 + confidence / 2))
        out: dict[str, Any] = {k: [] for k in ("teacher", "language", "family", "pgr", "pgr_lo",
                                               "pgr_hi", "z", "pg_score", "pg_score_lo",
                                               "pg_score_hi", "headroom_gain",
                                               "pgr_ill_conditioned")}  # fmt: skip
        for i in range(n):
            s = by_cell[(teacher_key(teacher[i]), language[i].lower(), family_key(family[i]))]
            se = None
            if not s.pgr_ill_conditioned and s.pgr is not None:
                se = _delta_stderr(student[i], se_s[i], base[i], se_b[i], reference[i], se_r[i])
            lo, hi = (None, None) if se is None else (s.pgr - q * se, s.pgr + q * se)
            pg_bounds = (None, None)
            if se is not None and s.z_score is not None:
                pg_bounds = ((lo + s.z_score) / 2, (hi + s.z_score) / 2)
            values = (teacher[i], language[i], family[i], s.pgr, lo, hi, s.z_score, s.pg_score,
                      *pg_bounds, s.headroom_gain, s.pgr_ill_conditioned)  # fmt: skip
            for key, value in zip(out, values, strict=True):
                out[key].append(value)
        out["confidence"] = confidence
        out["interval_method"] = "delta (normal); none where the gap is ill-conditioned"
        return out
