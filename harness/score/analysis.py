"""The paper's analyses: which intrinsic qualities predict a good teacher, and does size?

- PCA over the six intrinsic metrics (standardised first, since they live on scales from
  0..1 to hundreds of tokens) and a linear model of the student score on the
  components: explained variance and R^2. The paper reports PC1-PC4 = 42.2/22.1/16.5/12.6%
  and R^2 = 0.664 (``tests/fixtures/reference/pca_results.json``); we also report a
  cross-validated R^2, because the in-sample R^2 of 6 predictors on 60 rows flatters.
- PG vs teacher size: OLS of a teacher's headline PG on ln(parameters in billions),
  with a two-sided t-test p-value (paper: beta 0.053, p = 0.51 for OLMo-3). Sizes are
  ``size_b`` of ``teachers.yaml``, the one teacher table (found under any name a score
  row uses for the teacher: id, bare model name or a listed alias).
- Family-matched pairs: does a student trained on a teacher of its own model family
  (``family`` in ``teachers.yaml``) do better than on the other teachers, beyond what
  those teachers do for every other student? (The paper says such pairs gain >= 20.5%
  without defining the gain; we report differences of means, not that percentage.)
- Intrinsic vs extrinsic: Pearson and Spearman correlation of each intrinsic metric and
  z with the student score, PGR and headroom gain.

scikit-learn, scipy and matplotlib are the ``analysis`` extra; they are imported inside
the functions that need them.
"""

from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import ConfigError, EmptyDataError, InputNotFoundError
from harness.files import atomic_write, atomic_write_text
from harness.score.pgscore import ScoreRow, family_key, teacher_key
from harness.score.rows import IntrinsicRow
from harness.teachers import TeacherSpec, find_teacher, load_teachers

logger = logging.getLogger(__name__)

PCA_FEATURES: tuple[str, ...] = (
    "prompt_diversity",
    "response_diversity",
    "perplexity",
    "rubric_score",
    "prompt_length",
    "response_length",
)  # the paper's order (pca_results.json "feature_names")
ANALYSIS_FILE = "analysis.json"


def short_name(teacher: str) -> str:
    """``google/gemma-3-4b-it`` / ``google__gemma-3-4b-it`` -> ``gemma-3-4b-it``."""
    return teacher_key(teacher).split("__")[-1]


def pca_regression(
    features: np.ndarray,
    target: np.ndarray,
    *,
    groups: Sequence[str] | None = None,
    cv_folds: int = 5,
    seed: int = 0,
) -> dict:
    """Standardise, PCA (all components), then least squares of ``target`` on the scores.

    Returns the explained variance ratios, their cumulative sum, components (rows),
    regression coefficients and intercept, in-sample R^2 (the paper's number) and a
    cross-validated R^2 (None when there are too few rows). With ``groups`` (the
    teacher of each row) the folds leave one teacher out: a teacher's languages share
    its data qualities, so random folds would score it on rows of itself.

    Raises:
        EmptyDataError: fewer rows than features + 2.
    """
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LinearRegression
    from sklearn.model_selection import (
        KFold,
        LeaveOneGroupOut,
        cross_val_predict,
        cross_val_score,
    )
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features, target = np.asarray(features, float), np.asarray(target, float)
    n, d = features.shape
    if n < d + 2:
        raise EmptyDataError(f"PCA regression needs at least {d + 2} rows, got {n}")
    scaled = StandardScaler().fit_transform(features)
    pca = PCA(n_components=d).fit(scaled)
    scores = pca.transform(scaled)
    model = LinearRegression().fit(scores, target)
    cv_r2, cv = None, None
    pipe = make_pipeline(StandardScaler(), PCA(n_components=d), LinearRegression())
    if groups is not None and len(set(groups)) >= 3:
        cv = "leave-one-teacher-out"
        pred = cross_val_predict(pipe, features, target, groups=groups, cv=LeaveOneGroupOut())
        ss_tot = float(((target - target.mean()) ** 2).sum())
        cv_r2 = 1 - float(((target - pred) ** 2).sum()) / ss_tot if ss_tot > 0 else None
    elif n >= 2 * cv_folds:
        cv = f"{cv_folds}-fold"
        folds = KFold(cv_folds, shuffle=True, random_state=seed)
        cv_r2 = float(np.mean(cross_val_score(pipe, features, target, cv=folds, scoring="r2")))
    ratio = pca.explained_variance_ratio_
    return {
        "n_rows": n,
        "n_components": d,
        "explained_variance_ratio": ratio.tolist(),
        "cumulative_variance": np.cumsum(ratio).tolist(),
        "pca_components": pca.components_.tolist(),
        "coefficients": model.coef_.tolist(),
        "intercept": float(model.intercept_),
        "r2_score": float(model.score(scores, target)),
        "cv_r2_score": cv_r2,
        "cv": cv,
    }


def pca_inputs(
    intrinsic: Sequence[IntrinsicRow], scores: Sequence[ScoreRow]
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Feature matrix and student scores, one row per scored (teacher, language, family).

    Rows whose intrinsic record lacks any of the six metrics are left out (and counted
    in a warning): PCA needs complete rows.
    """
    by_cell = {(teacher_key(r.teacher), r.language.lower()): r for r in intrinsic}
    features, target, labels, incomplete = [], [], [], 0
    for score in scores:
        row = by_cell.get((teacher_key(score.teacher), score.language.lower()))
        if row is None:
            continue
        values = [getattr(row, f) for f in PCA_FEATURES]
        if any(v is None for v in values):
            incomplete += 1
            continue
        features.append(values)
        target.append(score.student_score)
        labels.append(f"{score.teacher}/{score.language}/{score.student_family}")
    if incomplete:
        logger.warning("PCA: %d row(s) lack one of %s and are left out", incomplete, PCA_FEATURES)
    return np.array(features, float).reshape(-1, len(PCA_FEATURES)), np.array(target, float), labels


def ols(x: Sequence[float], y: Sequence[float]) -> dict:
    """Simple OLS ``y = a + beta x`` with beta's standard error and two-sided t-test p.

    The fit is ``scipy.stats.linregress``; what is ours is the guard (a slope needs three
    rows and two x values) and the exact-fit convention: residuals of zero give
    ``t = inf`` and ``p = 0``, and a constant ``y`` has no R^2 (None).
    """
    from scipy import stats

    x, y = np.asarray(x, float), np.asarray(y, float)
    n = len(x)
    if n < 3 or np.ptp(x) == 0:
        raise EmptyDataError(f"a regression needs >= 3 rows with varying x, got {n}")
    fit = stats.linregress(x, y)
    varies = bool(np.ptp(y) > 0)  # a constant y leaves linregress's r, se and p NaN
    se = float(fit.stderr) if varies else 0.0
    exact = se == 0
    return {
        "beta": float(fit.slope),
        "intercept": float(fit.intercept),
        "stderr": se,
        "t": math.inf if exact else float(fit.slope) / se,
        "p_value": 0.0 if exact else float(fit.pvalue),
        "r2": float(fit.rvalue**2) if varies else None,
        "n": n,
    }


def registry_sizes(registry: Mapping[str, TeacherSpec] | None = None) -> dict[str, float | None]:
    """``size_b`` of every registered teacher, under every name it goes by.

    Why every name: score rows may call a teacher by its id, its bare model name or an
    alias, and the size regression looks the row's name up in this table.
    """
    registry = dict(registry) if registry is not None else load_teachers()
    return {
        short_name(name): spec.size_b
        for spec in registry.values()
        for name in (spec.name, spec.id, *spec.aliases)
    }


def size_regression(
    scores: Sequence[ScoreRow],
    sizes: Mapping[str, float | None] | None = None,
    *,
    registry: Mapping[str, TeacherSpec] | None = None,
) -> dict:
    """Headline PG (mean over languages) per teacher against ln(size in billions), per family.

    Sizes come from ``sizes`` when given (``analyze --sizes``), else from ``size_b`` in
    the teacher registry; a teacher of unknown or undisclosed size is left out and named.
    """
    table = {short_name(k): v for k, v in (sizes or registry_sizes(registry)).items()}
    out: dict = {"log": "natural", "unit": "billion parameters", "families": {}}
    unknown: set[str] = set()
    by_family: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in scores:
        if row.pg_score is not None:
            by_family[row.student_family][row.teacher].append(row.pg_score)
    for family, teachers in sorted(by_family.items()):
        xs, ys, names = [], [], []
        for teacher, values in sorted(teachers.items()):
            size = table.get(short_name(teacher))
            if size is None:
                unknown.add(teacher)
                continue
            xs.append(math.log(size))
            ys.append(float(np.mean(values)))
            names.append(teacher)
        try:
            out["families"][family] = {**ols(xs, ys), "teachers": names, "log_size": xs, "pg": ys}
        except EmptyDataError as exc:
            out["families"][family] = {"error": str(exc)}
    out["teachers_without_size"] = sorted(unknown)
    return out


def student_teacher_families(
    registry: Mapping[str, TeacherSpec] | None = None, students: str | Path | None = None
) -> dict[str, str]:
    """Student family -> the teacher family it belongs to, from the two registries.

    A student family belongs to a teacher family when its reference model (the
    family's own instruct release) or its base model is a registered teacher: lineage
    read from the registries' data, never guessed from a family's name.
    """
    from harness.train.families import load_families

    registry = dict(registry) if registry is not None else load_teachers()
    out = {}
    for name, family in load_families(students).items():
        for model in (family.reference_model, family.base_model):
            spec = find_teacher(model, registry) if model else None
            if spec is not None:
                out[family_key(name)] = spec.family
                break
    return out


FAMILY_OUTCOMES = ("student_score", "headroom_gain", "pg_score")


def _advantage(rows: Sequence[ScoreRow], matched: set[str], outcome: str) -> float | None:
    """Mean over languages of (mean over matched teachers - mean over the others)."""
    diffs = []
    for lang in sorted({r.language for r in rows}):
        inside, outside = [], []
        for r in rows:
            value = getattr(r, outcome)
            if r.language == lang and value is not None:
                (inside if r.teacher in matched else outside).append(value)
        if inside and outside:
            diffs.append(float(np.mean(inside)) - float(np.mean(outside)))
    return float(np.mean(diffs)) if diffs else None


def family_matched(
    scores: Sequence[ScoreRow],
    *,
    registry: Mapping[str, TeacherSpec] | None = None,
    matches: Mapping[str, str] | None = None,
) -> dict:
    """How much a student gains from teachers of its own model family.

    For a student family S of model family F: ``advantage`` = mean over languages of
    (mean outcome over S's students of F-family teachers - mean over S's other
    students). ``control`` is the same contrast of the same teachers on every other
    student family, and ``matched_gain = advantage - control``: the part of the
    advantage that F's teachers give S only, not to everyone (e.g. by being good).

    Args:
        matches: student family -> teacher family; default from ``students.yaml`` and
            ``teachers.yaml`` (:func:`student_teacher_families`).
    """
    registry = dict(registry) if registry is not None else load_teachers()
    if matches is None:
        matches = student_teacher_families(registry)
    matches = {family_key(k): v for k, v in matches.items()}
    by_family: dict[str, list[ScoreRow]] = defaultdict(list)
    teacher_family: dict[str, str | None] = {}
    for row in scores:
        by_family[family_key(row.student_family)].append(row)
        spec = find_teacher(row.teacher, registry)
        teacher_family[row.teacher] = spec.family if spec else None
    out: dict = {"pairs": {}, "unmatched_students": [], "teachers_not_in_registry": sorted(
        t for t, f in teacher_family.items() if f is None
    )}  # fmt: skip
    for student, rows in sorted(by_family.items()):
        model_family = matches.get(student)
        same = {t for t, f in teacher_family.items() if f is not None and f == model_family}
        if not same & {r.teacher for r in rows}:
            out["unmatched_students"].append(student)
            continue
        pair: dict = {"teacher_family": model_family, "teachers": sorted(same)}
        for outcome in FAMILY_OUTCOMES:
            advantage = _advantage(rows, same, outcome)
            others = [_advantage(r, same, outcome) for s, r in by_family.items() if s != student]
            others = [v for v in others if v is not None]
            control = float(np.mean(others)) if others else None
            pair[outcome] = {
                "advantage": advantage,
                "control": control,
                "matched_gain": None
                if advantage is None or control is None
                else advantage - control,
                "control_families": len(others),
            }
        out["pairs"][student] = pair
    return out


def correlations(intrinsic: Sequence[IntrinsicRow], scores: Sequence[ScoreRow]) -> dict:
    """Pearson and Spearman (with p-values) of intrinsic metrics and z vs extrinsic scores."""
    from scipy import stats

    by_cell = {(teacher_key(r.teacher), r.language.lower()): r for r in intrinsic}
    predictors = ["z_score", *PCA_FEATURES]
    outcomes = ("student_score", "pgr", "headroom_gain")
    out: dict = {}
    for predictor in predictors:
        for outcome in outcomes:
            pairs = []
            for s in scores:
                if predictor == "z_score":
                    x = s.z_score
                else:
                    row = by_cell.get((teacher_key(s.teacher), s.language.lower()))
                    x = None if row is None else getattr(row, predictor)
                y = getattr(s, outcome)
                if x is not None and y is not None:
                    pairs.append((x, y))
            if len(pairs) < 3 or len({p[0] for p in pairs}) < 2 or len({p[1] for p in pairs}) < 2:
                continue
            xs, ys = zip(*pairs, strict=True)
            pearson, spearman_ = stats.pearsonr(xs, ys), stats.spearmanr(xs, ys)
            out[f"{predictor}~{outcome}"] = {
                "n": len(pairs),
                "pearson_r": float(pearson[0]),
                "pearson_p": float(pearson[1]),
                "spearman_rho": float(spearman_[0]),
                "spearman_p": float(spearman_[1]),
            }
    return out


def _save_png(fig: Any, path: Path) -> None:
    """Save a figure atomically: a kill mid-save leaves the previous plot, never half a PNG.

    The format is named because the temporary file's suffix is not ``.png``.
    """
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))


def read_sizes(path: str | Path) -> dict[str, float]:
    """A ``{"teacher": billions_of_parameters}`` JSON file, checked entry by entry.

    Why checked: a size enters the regression as ``ln(size)``, so a zero, a negative or
    a string would end in a math error deep in the fit instead of naming the entry.

    Raises:
        InputNotFoundError: no file at ``path``.
        ConfigError: not UTF-8 JSON of that shape, or a size that is not a number > 0.
    """
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"teacher size file {path} does not exist")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid UTF-8 ({exc.reason})") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f'{path}: expected a JSON object {{"teacher": billions_of_parameters}}')
    for teacher, size in data.items():
        if (
            isinstance(size, bool)
            or not isinstance(size, (int, float))
            or not math.isfinite(size)
            or size <= 0
        ):
            raise ConfigError(
                f"{path}: size of {teacher!r} is {size!r}; expected a number of billions > 0"
            )
    return {str(k): float(v) for k, v in data.items()}


def _plot_scree(result: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    ratio = np.array(result["explained_variance_ratio"])
    fig = Figure(figsize=(5, 3.5))
    ax = fig.add_subplot()
    idx = np.arange(1, len(ratio) + 1)
    ax.bar(idx, ratio, label="per component")
    ax.plot(idx, np.cumsum(ratio), "o-", color="black", label="cumulative")
    ax.set(
        xlabel="principal component",
        ylabel="explained variance ratio",
        title=f"PCA (R² = {result['r2_score']:.3f})",
    )
    ax.legend()
    fig.tight_layout()
    _save_png(fig, path)


def _plot_size(result: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3.5))
    ax = fig.add_subplot()
    for family, fit in result["families"].items():
        if "beta" not in fit:
            continue
        xs = np.array(fit["log_size"])
        ax.scatter(
            np.exp(xs), fit["pg"], label=f"{family} (β={fit['beta']:.3f}, p={fit['p_value']:.2f})"
        )
        grid = np.linspace(xs.min(), xs.max(), 20)
        ax.plot(np.exp(grid), fit["intercept"] + fit["beta"] * grid)
    ax.set(xlabel="teacher parameters (billions)", ylabel="PG-Score (mean over languages)")
    if ax.get_legend_handles_labels()[0]:
        ax.set_xscale("log")
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no teacher with a known size", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    _save_png(fig, path)


def _plot_z_vs(scores: Sequence[ScoreRow], path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3.5))
    for i, outcome in enumerate(("pgr", "headroom_gain")):
        ax = fig.add_subplot(1, 2, i + 1)
        for flag, marker in ((False, "o"), (True, "x")):
            pts = [
                (s.z_score, getattr(s, outcome)) for s in scores if s.pgr_ill_conditioned is flag
            ]
            pts = [p for p in pts if None not in p]
            if pts:
                ax.scatter(
                    *zip(*pts, strict=True),
                    marker=marker,
                    label="ill-conditioned gap" if flag else "well-conditioned",
                )
        ax.set(xlabel="z (intrinsic)", ylabel=outcome)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    _save_png(fig, path)


def run_analysis(
    scores: Sequence[ScoreRow],
    intrinsic: Sequence[IntrinsicRow] = (),
    out_dir: str | Path | None = None,
    *,
    sizes: Mapping[str, float] | None = None,
    registry: Mapping[str, TeacherSpec] | None = None,
    matches: Mapping[str, str] | None = None,
) -> dict:
    """All analyses that the inputs allow; with ``out_dir``, also analysis.json and PNGs.

    PCA needs intrinsic rows with all six metrics; without them the result says why it
    was skipped instead of failing, so the size and z analyses still run on score rows.
    ``registry`` (default: the bundled ``teachers.yaml``) gives sizes and families;
    ``matches`` maps student families to teacher families (default: ``students.yaml``).
    """
    registry = dict(registry) if registry is not None else load_teachers()
    result: dict = {
        "size_regression": size_regression(scores, sizes, registry=registry),
        "family_matched": family_matched(scores, registry=registry, matches=matches),
        "correlations": correlations(intrinsic, scores),
    }
    features, target, labels = pca_inputs(intrinsic, scores)
    groups = [label.rsplit("/", 2)[0] for label in labels]
    try:
        result["pca"] = pca_regression(features, target, groups=groups)
    except EmptyDataError as exc:
        result["pca"] = {"skipped": str(exc)}
    if out_dir is not None:
        out = Path(out_dir)
        atomic_write_text(out / ANALYSIS_FILE, json.dumps(result, indent=2) + "\n")
        if "r2_score" in result["pca"]:
            _plot_scree(result["pca"], out / "pca_scree.png")
        _plot_size(result["size_regression"], out / "pg_vs_size.png")
        _plot_z_vs(scores, out / "z_vs_extrinsic.png")
    return result
