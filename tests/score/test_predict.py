"""Predicting a teacher's PG from intrinsic metrics: LOTO CV, interval calibration, CLI.

The grids are synthetic with a known linear truth, scored by the real scorer
(``score_run``), so the population R^2 and the nominal coverage are known by
construction and the fitted figures are checked against them, not against themselves.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from harness.cli.main import main
from harness.errors import ConfigError, EmptyDataError
from harness.score.pgscore import score_run, write_scores
from harness.score.predict import (
    build_tables,
    fit_linear,
    loto_cv,
    predict_teachers,
)
from harness.score.rows import ExtrinsicRow, IntrinsicRow

LANGS = ("ar", "de", "es", "id", "ja", "cs")
# mean and sd of each generated metric; perplexity enters as -log1p(perplexity)
METRICS = {
    "prompt_diversity": (0.60, 0.05),
    "response_diversity": (0.55, 0.05),
    "rubric_score": (3.8, 0.3),
    "neg_log1p_perplexity": (-2.5, 0.2),
}
BETA = np.array([0.30, 0.20, 0.25, -0.15])  # PGR per standard deviation of each metric
BASE, REFERENCE = 0.3, 0.5


def population_r2(beta: np.ndarray, sigma: float) -> float:
    """Independent standardised features: R^2 = |beta|^2 / (|beta|^2 + sigma^2)."""
    return float(beta @ beta / (beta @ beta + sigma**2))


def synthetic_cells(teachers: list[str], beta: np.ndarray, sigma: float, seed: int):
    """(intrinsic rows, {cell: true PGR}) with PGR = 0.5 + beta . standardised + noise."""
    rng = np.random.default_rng(seed)
    intrinsic, pgr = [], {}
    for t in teachers:
        for lang in LANGS:
            std = rng.normal(size=4)
            values = {k: m + s * v for (k, (m, s)), v in zip(METRICS.items(), std, strict=True)}
            intrinsic.append(
                IntrinsicRow(
                    t, lang, values["prompt_diversity"], values["response_diversity"],
                    values["rubric_score"], math.expm1(-values["neg_log1p_perplexity"]),
                )
            )  # fmt: skip
            pgr[(t, lang)] = 0.5 + float(beta @ std) + sigma * rng.normal()
    return intrinsic, pgr


def scored_grid(n_teachers: int, beta=BETA, sigma: float = 0.25, seed: int = 0, family="fam"):
    """A grid scored by the real scorer: students at base + PGR * gap."""
    teachers = [f"org/teacher-{i}" for i in range(n_teachers)]
    intrinsic, pgr = synthetic_cells(teachers, beta, sigma, seed)
    extrinsic = []
    for lang in LANGS:
        extrinsic.append(ExtrinsicRow("base", family, "bench", lang, BASE))
        extrinsic.append(ExtrinsicRow("reference", family, "bench", lang, REFERENCE))
    for (t, lang), value in pgr.items():
        score = BASE + value * (REFERENCE - BASE)
        extrinsic.append(ExtrinsicRow("student", family, "bench", lang, score, teacher=t,
                                      target_language=lang))  # fmt: skip
    return score_run(extrinsic, intrinsic), intrinsic


def test_prediction_interval_is_the_textbook_one_for_one_feature() -> None:
    x = np.array([0.1, 0.4, 0.5, 0.9, 1.3, 1.6, 2.0])
    y = np.array([1.0, 1.3, 1.1, 1.9, 2.1, 2.0, 2.8])
    fit = fit_linear(x[:, None], y)
    yhat, lo, hi = fit.interval(np.array([[1.1]]), 0.95)
    line = stats.linregress(x, y)
    n, s = len(x), math.sqrt(np.sum((y - line.intercept - line.slope * x) ** 2) / (len(x) - 2))
    se = s * math.sqrt(1 + 1 / n + (1.1 - x.mean()) ** 2 / np.sum((x - x.mean()) ** 2))
    want = line.intercept + line.slope * 1.1
    assert yhat[0] == pytest.approx(want)
    assert hi[0] - want == pytest.approx(stats.t.ppf(0.975, n - 2) * se)
    assert want - lo[0] == pytest.approx(stats.t.ppf(0.975, n - 2) * se)


def test_loto_cv_r2_and_coverage_match_the_known_truth() -> None:
    scores, intrinsic = scored_grid(40, sigma=0.25)
    table = build_tables(scores, intrinsic, target="pgr")["fam"]
    assert table.x.shape == (240, 4)
    cv = loto_cv(table)
    assert cv.n_teachers == 40
    assert cv.r2 == pytest.approx(population_r2(BETA, 0.25), abs=0.05)
    assert cv.r2 < cv.in_sample_r2
    assert cv.coverage[0.95] == pytest.approx(0.95, abs=0.035)
    assert cv.coverage[0.90] == pytest.approx(0.90, abs=0.045)


def test_pg_target_is_inflated_by_z_where_pgr_is_pure_noise() -> None:
    """PG = (PGR + z)/2 and z is built from the features: PG looks predictable even when
    PGR has nothing to do with them (beta = 0), which is why PGR is the honest target."""
    scores, intrinsic = scored_grid(12, beta=np.zeros(4), sigma=0.1, seed=3)
    pgr = loto_cv(build_tables(scores, intrinsic, target="pgr")["fam"])
    pg = loto_cv(build_tables(scores, intrinsic, target="pg")["fam"])
    assert pgr.r2 < 0.05  # nothing to find: CV R^2 at or below zero
    assert pg.r2 > 0.5


def test_new_teachers_fall_inside_their_intervals_at_the_nominal_rate() -> None:
    scores, intrinsic = scored_grid(30, sigma=0.25, seed=4)
    new_teachers = [f"org/new-{i}" for i in range(20)]
    new, truth = synthetic_cells(new_teachers, BETA, 0.25, seed=5)
    predictions = predict_teachers(scores, intrinsic, new, target="pgr", level=0.95).rows
    assert len(predictions) == 20 * len(LANGS)
    inside = [p.lo <= truth[(p.teacher, p.language)] <= p.hi for p in predictions]
    assert np.mean(inside) == pytest.approx(0.95, abs=0.05)
    for p in predictions:
        assert p.lo < p.value < p.hi and p.cv.n_teachers == 30


def test_fewer_than_three_teachers_is_an_error() -> None:
    scores, intrinsic = scored_grid(2)
    new, _ = synthetic_cells(["org/new"], BETA, 0.25, seed=1)
    with pytest.raises(EmptyDataError, match="family fam has scores of 2 teacher"):
        predict_teachers(scores, intrinsic, new)


def _write_grid(root: Path, scores, intrinsic) -> None:
    write_scores(scores, root / "scores" / "scores.jsonl")
    (root / "metrics").mkdir(parents=True)
    (root / "metrics" / "summary.jsonl").write_text(
        "".join(json.dumps(_summary(r)) + "\n" for r in intrinsic), encoding="utf-8"
    )


def _summary(row: IntrinsicRow) -> dict:
    return {
        "teacher": row.teacher, "language": row.language,
        "prompt_diversity": row.prompt_diversity, "response_diversity": row.response_diversity,
        "rubric_score": row.rubric_score, "perplexity": row.perplexity,
    }  # fmt: skip


def _write_new(path: Path, teacher: str, seed: int, **override) -> Path:
    new, _ = synthetic_cells([teacher], BETA, 0.25, seed=seed)
    rows = [{**_summary(r), **override} for r in new]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_cli_reports_cv_next_to_the_paper_and_writes_predicted_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scores, intrinsic = scored_grid(8, seed=6)
    _write_grid(tmp_path, scores, intrinsic)
    first = _write_new(tmp_path / "new1.jsonl", "org/new-one", seed=7)
    assert main(["predict", "--scores", str(tmp_path), "--metrics", str(first)]) == 0
    out = capsys.readouterr().out
    assert "pgr: CV R^2 = " in out and "pg: CV R^2 = " in out
    assert "the paper's in-sample R^2 = 0.664" in out and "95% interval covers" in out
    predicted = tmp_path / "scores" / "predicted.jsonl"
    rows = [json.loads(line) for line in predicted.read_text().splitlines()]
    assert len(rows) == len(LANGS)
    for r in rows:
        assert r["predicted"] is True and r["target"] == "pg_score"
        assert r["lo"] < r["pg_score"] < r["hi"] and r["student_score"] is None
        assert r["base_score"] == BASE and r["z_score"] is not None
    second = _write_new(tmp_path / "new2.jsonl", "org/new-two", seed=8)
    args = ["predict", "--scores", str(tmp_path / "scores"), "--metrics", str(second)]
    assert main([*args, "--target", "pgr"]) == 0
    rows = [json.loads(line) for line in predicted.read_text().splitlines()]
    assert {r["teacher"] for r in rows} == {"org/new-one", "org/new-two"}  # merged, not replaced
    for r in (r for r in rows if r["teacher"] == "org/new-two"):
        # PG from the predicted PGR and the exactly known z; the interval halves
        assert r["pg_score"] == pytest.approx((r["pgr"] + r["z_score"]) / 2)
        assert r["pg_hi"] - r["pg_lo"] == pytest.approx((r["hi"] - r["lo"]) / 2)


def test_cli_without_metrics_cross_validates_the_grid_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a strong truth (sigma small) and a null one (beta 0): the CV R^2 must tell them apart
    for name, beta, sigma in (("strong", BETA, 0.05), ("null", np.zeros(4), 0.25)):
        root = tmp_path / name
        scores, intrinsic = scored_grid(8, beta=beta, sigma=sigma, seed=11)
        _write_grid(root, scores, intrinsic)
        assert main(["predict", "--scores", str(root), "--level", "0.8"]) == 0
        out = capsys.readouterr().out
        assert "nothing predicted, nothing written" in out
        assert "80% interval covers" in out and "95% interval covers" in out
        assert not (root / "scores" / "predicted.jsonl").exists()
        pgr_r2 = float(out.split("pgr: CV R^2 = ")[1].split()[0])
        table = build_tables(scores, intrinsic, target="pgr")["fam"]
        assert pgr_r2 == pytest.approx(loto_cv(table).r2, abs=5e-4)
        if name == "strong":
            assert pgr_r2 > 0.8
        else:
            assert pgr_r2 < 0.2


def test_a_metric_the_grid_never_measured_is_left_out_and_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the example grid runs no judge: rubric_score is absent on every cell
    scores, intrinsic = scored_grid(6, seed=13)
    unjudged = [dataclasses.replace(r, rubric_score=None) for r in intrinsic]
    _write_grid(tmp_path, scores, unjudged)
    assert main(["predict", "--scores", str(tmp_path), "--target", "pgr"]) == 0
    out = capsys.readouterr().out
    assert "not a feature: rubric_score (measured on none of the grid's scored cells" in out
    assert "fit on prompt_diversity, response_diversity, neg_log1p_perplexity" in out
    three = ("prompt_diversity", "response_diversity", "neg_log1p_perplexity")
    table = build_tables(scores, unjudged, target="pgr", features=three)["fam"]
    assert float(out.split("pgr: CV R^2 = ")[1].split()[0]) == pytest.approx(
        loto_cv(table).r2, abs=5e-4
    )
    # measured on some cells only: still refused, naming the cell
    partly = [dataclasses.replace(r, rubric_score=None) if i == 0 else r
              for i, r in enumerate(intrinsic)]  # fmt: skip
    (tmp_path / "metrics" / "summary.jsonl").unlink()
    (tmp_path / "metrics").rmdir()
    _write_grid(tmp_path, scores, partly)
    assert main(["predict", "--scores", str(tmp_path)]) == 2
    assert "org/teacher-0/ar/fam: rubric_score missing or NaN" in capsys.readouterr().err


def test_cli_without_metrics_on_too_small_a_grid_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scores, intrinsic = scored_grid(2, seed=12)
    _write_grid(tmp_path, scores, intrinsic)
    assert main(["predict", "--scores", str(tmp_path), "--ridge", "-1"]) == 2
    assert (
        capsys.readouterr().err.strip().endswith("must be a finite number >= 0 (0: least squares)")
    )
    assert main(["predict", "--scores", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "predict needs at least 3" in err


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("two_teachers", "student family fam has scores of 2 teacher(s); predict needs at least 3"),
        ("new_lacks_rubric", "org/new/ar lacks rubric_score (missing or NaN)"),
        ("grid_nan", "org/teacher-0/ar/fam: response_diversity missing or NaN"),
        ("measured_teacher", "teacher org/teacher-1 already has measured scores"),
        ("no_grid_metrics", "no intrinsic metrics found for the grid"),
    ],
)
def test_bad_input_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, message: str
) -> None:
    scores, intrinsic = scored_grid(2 if case == "two_teachers" else 4, seed=9)
    _write_grid(tmp_path, scores, intrinsic)
    summary = tmp_path / "metrics" / "summary.jsonl"
    if case == "grid_nan":  # json writes NaN, which Python's reader accepts
        lines = summary.read_text().splitlines()
        first = {**json.loads(lines[0]), "response_diversity": float("nan")}
        summary.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    if case == "no_grid_metrics":
        summary.unlink()
    teacher = "org/teacher-1" if case == "measured_teacher" else "org/new"
    extra = {"rubric_score": None} if case == "new_lacks_rubric" else {}
    new = _write_new(tmp_path / "new.jsonl", teacher, seed=10, **extra)
    assert main(["predict", "--scores", str(tmp_path), "--metrics", str(new)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and message in err


def test_unknown_target_is_refused() -> None:
    scores, intrinsic = scored_grid(3)
    with pytest.raises(ConfigError, match="target 'z' is not one of pg, pgr"):
        build_tables(scores, intrinsic, target="z")


# ---- hostile inputs ------------------------------------------------------------------
def _rewrite(path: Path, edit) -> Path:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    path.write_text("".join(json.dumps(r) + "\n" for r in edit(rows)), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("case", "message"),
    [  # before: both rows predicted and written, two numbers for one cell / two teachers
        ("same_cell_twice", "new.jsonl:7: a second row for org/new ar (first at"),
        ("same_cell_other_value", "new.jsonl:7: a second row for org/new ar (first at"),
        ("case_and_space", "teacher 'org/NEW ' and 'org/new' differ only by case or spacing"),
    ],
)
def test_new_rows_of_one_cell_or_one_teacher_spelt_twice_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, message: str
) -> None:
    scores, intrinsic = scored_grid(4, seed=13)
    _write_grid(tmp_path, scores, intrinsic)
    new = _write_new(tmp_path / "new.jsonl", "org/new", seed=14)
    if case == "same_cell_twice":
        _rewrite(new, lambda rows: [*rows, rows[0]])
    elif case == "same_cell_other_value":
        _rewrite(new, lambda rows: [*rows, {**rows[0], "rubric_score": 4.9}])
    else:
        _rewrite(new, lambda rows: [{**r, "teacher": "org/NEW " if i else r["teacher"]}
                                    for i, r in enumerate(rows)])  # fmt: skip
    assert main(["predict", "--scores", str(tmp_path), "--metrics", str(new)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and message in err
    assert not (tmp_path / "scores" / "predicted.jsonl").exists()


@pytest.mark.parametrize("target", ["scores", "metrics", "foreign_predicted"])
def test_out_onto_a_file_of_other_rows_is_refused_and_left_as_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str
) -> None:
    scores, intrinsic = scored_grid(4, seed=15)
    _write_grid(tmp_path, scores, intrinsic)
    new = _write_new(tmp_path / "new.jsonl", "org/new", seed=16)
    out = {
        "scores": tmp_path / "scores" / "scores.jsonl",  # before: predictions appended to it
        "metrics": new,
        "foreign_predicted": tmp_path / "scores" / "predicted.jsonl",
    }[target]
    if target == "foreign_predicted":  # a cell row someone wrote without the mark
        out.write_text('{"teacher": "org/x", "language": "de", "student_family": "fam"}\n')
    before = out.read_bytes()
    assert (
        main(["predict", "--scores", str(tmp_path), "--metrics", str(new), "--out", str(out)]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"{out}:1: not a predicted row (no 'predicted': true)" in err
    assert out.read_bytes() == before


def test_out_naming_a_folder_is_refused_before_the_fit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scores, intrinsic = scored_grid(4, seed=17)
    _write_grid(tmp_path, scores, intrinsic)
    new = _write_new(tmp_path / "new.jsonl", "org/new", seed=18)
    args = ["predict", "--scores", str(tmp_path), "--metrics", str(new)]
    assert main([*args, "--out", str(tmp_path / "metrics")]) == 2
    captured = capsys.readouterr()
    assert "is an existing folder; name a file" in captured.err
    assert "CV R^2" not in captured.out  # refused before the work, not at the write


def test_a_family_is_predicted_only_in_the_languages_it_was_scored_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second family scored in two languages: its base and reference exist there only,
    so a predicted PG elsewhere has no anchors (before: written with null base/reference)."""
    teachers = [f"org/teacher-{i}" for i in range(4)]
    intrinsic, pgr = synthetic_cells(teachers, BETA, 0.25, seed=19)
    extrinsic = []
    for family, langs in (("fam", LANGS), ("fam2", ("de", "es"))):
        for lang in langs:
            extrinsic.append(ExtrinsicRow("base", family, "bench", lang, BASE))
            extrinsic.append(ExtrinsicRow("reference", family, "bench", lang, REFERENCE))
        for (t, lang), value in pgr.items():
            if lang in langs:
                score = BASE + value * (REFERENCE - BASE)
                extrinsic.append(ExtrinsicRow("student", family, "bench", lang, score, teacher=t,
                                              target_language=lang))  # fmt: skip
    _write_grid(tmp_path, score_run(extrinsic, intrinsic), intrinsic)
    new = _write_new(tmp_path / "new.jsonl", "org/new", seed=20)
    assert main(["predict", "--scores", str(tmp_path), "--metrics", str(new)]) == 0
    out = capsys.readouterr().out
    assert "not predicted (the family has no scored students there): org/new ar fam2" in out
    rows = [
        json.loads(s) for s in (tmp_path / "scores" / "predicted.jsonl").read_text().splitlines()
    ]
    cells = {(r["student_family"], r["language"]) for r in rows}
    assert cells == {("fam", lang) for lang in LANGS} | {("fam2", "de"), ("fam2", "es")}
    assert all(r["base_score"] == BASE and r["reference_score"] == REFERENCE for r in rows)
    # a language no family was scored in: nothing to predict, said in one line
    only_fr = _rewrite(new, lambda rows: [{**rows[0], "language": "fr"}])
    args = ["predict", "--scores", str(tmp_path), "--metrics", str(only_fr), "--out"]
    assert main([*args, str(tmp_path / "fr.jsonl")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no family of the grid was scored in fr" in err
