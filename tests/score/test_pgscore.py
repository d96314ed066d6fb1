"""PGR, z-scores, conditioning and the readers, on hand-checkable inputs."""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
from pathlib import Path

import numpy as np
import pytest

from harness.errors import ConfigError, EmptyDataError, InputNotFoundError
from harness.score.inputs import read_extrinsic, read_intrinsic
from harness.score.lm_eval_results import read_lm_eval_results, task_benchmark
from harness.score.pgscore import GapPolicy, fit_z_scores, read_scores, score_run, write_scores
from harness.score.rows import ExtrinsicRow, IntrinsicRow


def intrinsic(
    teacher: str, lang: str, pd: float, rd: float, rubric: float, ppl: float
) -> IntrinsicRow:
    return IntrinsicRow(teacher, lang, pd, rd, rubric, ppl)


def anchors(
    family: str = "fam", lang: str = "de", base=(0.40,), ref=(0.60,), se=None, benches=("mgsm",)
):
    rows = []
    for bench, b, r in zip(benches, base, ref, strict=True):
        rows.append(ExtrinsicRow("base", family, bench, lang, b, stderr=se))
        rows.append(ExtrinsicRow("reference", family, bench, lang, r, stderr=se))
    return rows


def student(
    teacher: str, score: float, lang: str = "de", bench: str = "mgsm", se=None, family="fam"
):
    return ExtrinsicRow(
        "student", family, bench, lang, score, stderr=se, teacher=teacher, target_language=lang
    )


def test_z_score_hand_checked() -> None:
    # Two rows: every column's population z is exactly -1 / +1.
    rows = [intrinsic("t1", "de", 0.2, 0.5, 3.0, 9.0), intrinsic("t2", "de", 0.4, 0.7, 4.0, 19.0)]
    fit = fit_z_scores(rows)
    assert fit.columns == (
        "prompt_diversity",
        "response_diversity",
        "rubric_score",
        "neg_log1p_perplexity",
    )
    # t2 is more diverse, better judged, but less fluent: z = (1 + 1 + 1 - 1) / 4.
    assert fit.z[("t2", "de")] == pytest.approx(0.5)
    assert fit.z[("t1", "de")] == pytest.approx(-0.5)
    assert fit.mean["neg_log1p_perplexity"] == pytest.approx(-(math.log(10) + math.log(20)) / 2)


def test_z_score_three_rows_population_std() -> None:
    values = np.array([0.1, 0.2, 0.6])
    rows = [intrinsic(f"t{i}", "es", v, v, v, 1.0 + i) for i, v in enumerate(values)]
    fit = fit_z_scores(rows)
    zv = (values - values.mean()) / values.std(ddof=0)
    ppl = -np.log1p([1.0, 2.0, 3.0])
    zp = (ppl - ppl.mean()) / ppl.std(ddof=0)
    for i in range(3):
        assert fit.z[(f"t{i}", "es")] == pytest.approx((3 * zv[i] + zp[i]) / 4)


def test_constant_and_missing_columns_are_dropped_loudly(caplog: pytest.LogCaptureFixture) -> None:
    rows = [
        IntrinsicRow("t1", "de", 0.2, 0.5, None, 9.0),
        IntrinsicRow("t2", "de", 0.4, 0.5, 4.0, 19.0),
    ]
    with caplog.at_level(logging.WARNING):
        fit = fit_z_scores(rows)
    assert fit.columns == ("prompt_diversity", "neg_log1p_perplexity")
    assert "constant" in fit.dropped["response_diversity"]
    assert "t1/de" in fit.dropped["rubric_score"]
    assert "rubric_score" in caplog.text and "response_diversity" in caplog.text
    assert fit.z[("t2", "de")] == pytest.approx(0.0)  # (+1 - 1) / 2, never NaN


def test_single_row_run_has_null_z_not_nan() -> None:
    fit = fit_z_scores([intrinsic("t1", "de", 0.2, 0.5, 3.0, 9.0)])
    assert fit.columns == () and fit.z[("t1", "de")] is None


def test_pgr_and_pg_hand_checked() -> None:
    extrinsic = [
        *anchors(se=0.01),
        student("org/t1", 0.50, se=0.01),
        student("org/t2", 0.30, se=0.01),
    ]
    rows = [
        intrinsic("org/t1", "de", 0.2, 0.5, 3.0, 9.0),
        intrinsic("org/t2", "de", 0.4, 0.7, 4.0, 19.0),
    ]
    scored = {r.teacher: r for r in score_run(extrinsic, rows)}
    t1, t2 = scored["org/t1"], scored["org/t2"]
    assert t1.pgr == pytest.approx(0.5) and t2.pgr == pytest.approx(-0.5)
    assert t1.pg_score == pytest.approx((0.5 - 0.5) / 2) and t2.pg_score == pytest.approx(
        (-0.5 + 0.5) / 2
    )
    assert t1.headroom_gain == pytest.approx(0.1 / 0.6)
    assert not t1.pgr_ill_conditioned
    assert t1.gap_stderr == pytest.approx(math.sqrt(2) * 0.01)


def test_language_score_is_mean_over_student_benchmarks_only() -> None:
    extrinsic = anchors(
        base=(0.4, 0.2, 0.9), ref=(0.6, 0.4, 0.1), benches=("mgsm", "belebele", "extra"), se=0.02
    )
    extrinsic += [
        student("t", 0.5, bench="mgsm", se=0.02),
        student("t", 0.3, bench="belebele", se=0.02),
    ]
    # A score in another language than the target is not part of the student's score.
    extrinsic.append(
        ExtrinsicRow("student", "fam", "mgsm", "es", 0.9, teacher="t", target_language="de")
    )
    (row,) = score_run(extrinsic)
    assert row.benchmarks == ("belebele", "mgsm")
    assert (row.student_score, row.base_score, row.reference_score) == pytest.approx(
        (0.4, 0.3, 0.5)
    )
    assert row.student_stderr == pytest.approx(math.sqrt(2 * 0.02**2) / 2)
    assert row.z_score is None and row.pg_score is None  # no intrinsic input given


def test_missing_anchor_benchmark_names_it() -> None:
    extrinsic = [*anchors(), student("t", 0.5, bench="belebele")]
    with pytest.raises(ConfigError, match="base score for family fam on belebele_de"):
        score_run(extrinsic)


def test_shared_reference_family_star() -> None:
    extrinsic = [
        ExtrinsicRow("base", "fam", "mgsm", "de", 0.4),
        ExtrinsicRow("reference", "*", "mgsm", "de", 0.7),
        student("t", 0.55),
    ]
    (row,) = score_run(extrinsic)
    assert row.pgr == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("base", "ref", "se", "ill"),
    [
        (0.40, 0.60, 0.01, False),  # gap 0.2 >> 2 * 0.014
        (0.40, 0.42, 0.01, True),  # gap 0.02 <= 2 * sqrt(2) * 0.01
        (0.40, 0.36, 0.01, True),  # reference below base (the paper's OLMo run)
        (0.40, 0.43, None, False),  # no stderr: only the 0.02 floor applies
        (0.40, 0.415, None, True),
        (0.40, 0.40, None, True),  # zero gap: PGR undefined, row kept
    ],
)
def test_gap_conditioning(base: float, ref: float, se: float | None, ill: bool) -> None:
    (row,) = score_run([*anchors(base=(base,), ref=(ref,), se=se), student("t", 0.45, se=se)])
    assert row.pgr_ill_conditioned is ill
    if ref == base:
        assert row.pgr is None and row.pg_score is None
    else:
        assert row.pgr == pytest.approx((0.45 - base) / (ref - base))
    assert row.headroom_gain == pytest.approx(0.05 / 0.6)


def test_gap_policy_is_configurable() -> None:
    rows = [*anchors(base=(0.40,), ref=(0.415,)), student("t", 0.45)]
    (row,) = score_run(rows, policy=GapPolicy(k=2, floor=0.01))
    assert not row.pgr_ill_conditioned
    with pytest.raises(ConfigError, match="'floor'"):
        GapPolicy(floor=-1)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"role": "teacher"}, "'role'"),
        ({"score": float("nan")}, "'score'"),
        ({"stderr": -0.1}, "'stderr'"),
        ({"teacher": None}, "'teacher'"),
        ({"benchmark": ""}, "'benchmark'"),
    ],
)
def test_extrinsic_row_validation_names_field(kwargs: dict, field: str) -> None:
    base = {
        "role": "student",
        "student_family": "f",
        "benchmark": "mgsm",
        "language": "de",
        "score": 0.5,
    }
    base |= {"teacher": "t", "target_language": "de"}
    with pytest.raises(ConfigError, match=field):
        ExtrinsicRow(**(base | kwargs))


def test_intrinsic_row_validation() -> None:
    with pytest.raises(ConfigError, match="'perplexity'"):
        IntrinsicRow("t", "de", 0.1, 0.1, 3.0, -2.0)
    with pytest.raises(ConfigError, match="'rubric_score'"):
        IntrinsicRow("t", "de", 0.1, 0.1, "high", 2.0)  # type: ignore[arg-type]


def test_duplicates_are_refused() -> None:
    with pytest.raises(ConfigError, match="second student score"):
        score_run([*anchors(), student("t", 0.5), student("t", 0.6)])
    rows = [intrinsic("t", "de", 0.1, 0.1, 3.0, 2.0)] * 2
    with pytest.raises(ConfigError, match="appears twice"):
        fit_z_scores(rows)


def test_task_names_map_to_benchmarks() -> None:
    assert task_benchmark("polyglot_eval_gmmlu_lite_de") == ("global_mmlu_lite", "de")
    assert task_benchmark("polyglot_eval_gmmlu_cs") == ("global_mmlu", "cs")
    assert task_benchmark("polyglot_eval_mrewardbench_de") == ("m_rewardbench", "de")
    assert task_benchmark("polyglot_eval_belebele_cs") == ("belebele", "cs")
    assert task_benchmark("mgsm_ja") == ("mgsm", "ja")
    assert task_benchmark("polyglot_eval_de") is None  # group: an aggregate, not a benchmark
    assert task_benchmark("polyglot_eval_ext_de") is None


def write_lm_eval(folder: Path, stamp: str, results: dict, pretrained: str = "x") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    data = {"results": results, "config": {"model_args": f"pretrained={pretrained},dtype=float32"}}
    (folder / f"results_{stamp}.json").write_text(json.dumps(data))


def test_read_lm_eval_results_picks_metric_and_latest_file(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    write_lm_eval(
        folder, "2025-01-01T00-00-00", {"polyglot_eval_mgsm_de": {"exact_match,none": 0.1}}
    )
    write_lm_eval(
        folder,
        "2025-02-01T00-00-00",
        {
            "polyglot_eval_mgsm_de": {
                "exact_match,strict-match": 0.2,
                "exact_match,flexible-extract": 0.3,
            },
            # Our tasks' headline is "acc" (M-RewardBench: the weighted accuracy).
            "polyglot_eval_mrewardbench_de": {
                "acc,none": 0.6,
                "acc_stderr,none": 0.01,
                "acc_plain,none": 0.5,
            },
            "mrewardbench_es": {"weighted_acc,none": 0.7, "weighted_acc_stderr,none": "N/A"},
            "polyglot_eval_de": {"acc,none": 0.9, "alias": "group"},
        },
    )
    rows = {
        (r.benchmark, r.language): r
        for r in read_lm_eval_results(folder, role="base", student_family="f")
    }
    assert set(rows) == {("mgsm", "de"), ("m_rewardbench", "de"), ("m_rewardbench", "es")}
    # The newest file wins; among filters, flexible-extract before strict-match.
    assert rows["mgsm", "de"].score == 0.3 and rows["mgsm", "de"].stderr is None
    assert rows["m_rewardbench", "de"].score == 0.6 and rows["m_rewardbench", "de"].stderr == 0.01
    assert rows["m_rewardbench", "es"].score == 0.7 and rows["m_rewardbench", "es"].stderr is None
    with pytest.raises(InputNotFoundError):
        read_lm_eval_results(tmp_path / "nothing", role="base", student_family="f")


def test_results_of_a_benchmark_the_scorer_does_not_know_are_reported_not_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from harness.score.lm_eval_results import UnknownTask

    folder = tmp_path / "model"
    write_lm_eval(
        folder,
        "2025",
        {
            "polyglot_eval_mgsm_de": {"acc,none": 0.4},
            "polyglot_eval_mystery_de": {"acc,none": 0.9},  # no record claims "mystery"
            "arc_easy": {"acc,none": 0.7},
            "mmlu": {"acc,none": 0.3},  # a group: an aggregate, not a benchmark
            "polyglot_eval_ext_de": {"acc,none": 0.4},
        },
    )
    data = json.loads((folder / "results_2025.json").read_text())
    data["group_subtasks"] = {"mmlu": ["mmlu_x"], "arc_easy": []}
    (folder / "results_2025.json").write_text(json.dumps(data))
    unknown: list[UnknownTask] = []
    with caplog.at_level(logging.WARNING, logger="harness.score.lm_eval_results"):
        rows = read_lm_eval_results(folder, role="base", student_family="f", unknown=unknown)
    assert [(r.benchmark, r.score) for r in rows] == [("mgsm", 0.4)]
    assert [u.task for u in unknown] == ["arc_easy", "polyglot_eval_mystery_de"]
    assert all(u.source == str(folder / "results_2025.json") for u in unknown)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 2 and "polyglot_eval_mystery_de" in warned[1]
    assert str(folder / "results_2025.json") in warned[1]


def test_read_extrinsic_folder_mixes_jsonl_sidecars_and_run_names(tmp_path: Path) -> None:
    base = tmp_path / "evals" / "base"
    write_lm_eval(base, "2025", {"polyglot_eval_mgsm_de": {"exact_match,none": 0.4}})
    (base / "polyglot_run.json").write_text(json.dumps({"role": "base", "student_family": "fam"}))
    (base / "samples_polyglot_eval_mgsm_de_2025.jsonl").write_text('{"doc_id": 0}\n')
    write_lm_eval(
        tmp_path / "evals" / "__students__fam--org__t--de",
        "2025",
        {"polyglot_eval_mgsm_de": {"exact_match,none": 0.55}},
        pretrained="/runs/students/fam--org__t--de",
    )
    ref = {
        "role": "reference",
        "student_family": "fam",
        "benchmark": "mgsm",
        "language": "de",
        "score": 0.7,
    }
    (tmp_path / "evals" / "ref.jsonl").write_text(json.dumps(ref) + "\n")
    (row,) = score_run(read_extrinsic(tmp_path / "evals"))
    assert (row.student_family, row.teacher, row.language) == ("fam", "org__t", "de")
    assert row.pgr == pytest.approx(0.5)
    write_lm_eval(tmp_path / "anon" / "model", "2025", {"polyglot_eval_mgsm_de": {"acc,none": 0.4}})
    with pytest.raises(ConfigError, match=r"polyglot_run\.json"):
        read_extrinsic(tmp_path / "anon")


def test_read_jsonl_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"role": "base"}\n')
    with pytest.raises(ConfigError, match=r"bad.jsonl:1.*missing field"):
        read_extrinsic(path)
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(EmptyDataError):
        read_extrinsic(tmp_path / "empty.jsonl")


def test_read_intrinsic_summary_nan_is_missing(tmp_path: Path) -> None:
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    row = {"teacher": "t", "language": "de", "prompt_diversity": 0.3, "response_diversity": 0.4}
    row |= {"rubric_score": float("nan"), "perplexity": 5.0, "prompt_length": 20, "valid_rate": 0.9}
    (metrics / "summary.jsonl").write_text(json.dumps(row) + "\n")
    (parsed,) = read_intrinsic(metrics)
    assert (
        parsed.rubric_score is None
        and parsed.prompt_length == 20
        and parsed.extra == {"valid_rate": 0.9}
    )


def test_cli_score_leaderboard_analyze(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from harness.cli import analyze, leaderboard, score

    rng = np.random.default_rng(0)
    teachers = [f"org/t{i}" for i in range(6)]
    ext, intr = [], []
    for lang in ("de", "es"):
        ext += anchors(lang=lang, se=0.01)
        for t in teachers:
            ext.append(student(t, float(rng.uniform(0.35, 0.65)), lang=lang, se=0.01))
            m = rng.uniform(0.1, 1.0, size=6)
            intr.append(IntrinsicRow(t, lang, *m[:3], 5 + 10 * m[3], 50 * m[4], 200 * m[5]))
    (tmp_path / "evals.jsonl").write_text("\n".join(json.dumps(r.__dict__) for r in ext))
    (tmp_path / "metrics.jsonl").write_text(
        "\n".join(json.dumps({**r.__dict__, "extra": None}) for r in intr)
    )
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    for module in (score, leaderboard, analyze):
        module.add_parser(sub)
    out = tmp_path / "scores"
    args = parser.parse_args(
        [
            "score",
            "--extrinsic",
            str(tmp_path / "evals.jsonl"),
            "--intrinsic",
            str(tmp_path / "metrics.jsonl"),
            "--out",
            str(out),
        ]
    )
    assert args.run(args) == 0
    rows = read_scores(out)
    assert len(rows) == 12 and all(r.pg_score is not None for r in rows)
    assert json.loads((out / "robustness.json").read_text())["alphas"] == [
        0.0,
        0.25,
        0.5,
        0.75,
        1.0,
    ]
    args = parser.parse_args(["leaderboard", "--scores", str(out)])
    assert args.run(args) == 0
    assert "| teacher" in (out / "leaderboard.md").read_text()
    args = parser.parse_args(
        [
            "analyze",
            "--scores",
            str(out),
            "--intrinsic",
            str(tmp_path / "metrics.jsonl"),
            "--out",
            str(tmp_path / "an"),
        ]
    )
    assert args.run(args) == 0
    assert {p.name for p in (tmp_path / "an").iterdir()} >= {
        "analysis.json",
        "pca_scree.png",
        "pg_vs_size.png",
    }
    write_scores(rows, tmp_path / "copy.jsonl")
    assert read_scores(tmp_path / "copy.jsonl") == rows
    args = parser.parse_args(["score", "--extrinsic", str(tmp_path / "missing"), "--out", str(out)])
    assert args.run(args) == 2
    assert "does not exist" in capsys.readouterr().err


def test_dataset_without_valid_rows_takes_the_worst_value_per_column() -> None:
    from harness.score import IntrinsicRow, fit_z_scores

    rows = [
        IntrinsicRow("good", "de", 0.6, 0.5, None, 10.0, extra={"n_valid": 9}),
        IntrinsicRow("ok", "de", 0.4, 0.3, None, 30.0, extra={"n_valid": 5}),
        IntrinsicRow("bad", "de", None, None, None, None, extra={"n_valid": 0}),
    ]
    fit = fit_z_scores(rows)
    assert fit.imputed == frozenset({("bad", "de")})
    # Fitted on the measured rows only; the rubric (missing everywhere) is dropped.
    assert fit.columns == ("prompt_diversity", "response_diversity", "neg_log1p_perplexity")
    assert fit.z[("good", "de")] == pytest.approx(1.0)
    assert fit.z[("ok", "de")] == pytest.approx(-1.0)
    assert fit.z[("bad", "de")] == pytest.approx(-1.0)  # as bad as the worst, never better


def test_one_valid_row_cannot_measure_diversity_and_takes_the_worst() -> None:
    from harness.score import IntrinsicRow, fit_z_scores

    rows = [
        IntrinsicRow("a", "de", 0.6, 0.5, None, 10.0, extra={"n_valid": 9}),
        IntrinsicRow("b", "de", 0.4, 0.3, None, 30.0, extra={"n_valid": 5}),
        IntrinsicRow("c", "de", None, None, None, 20.0, extra={"n_valid": 1}),
    ]
    fit = fit_z_scores(rows)
    assert "prompt_diversity" in fit.columns  # not dropped for everyone because of "c"
    assert fit.imputed == frozenset({("c", "de")})
    assert fit.z[("c", "de")] < fit.z[("a", "de")]
    # A metric that was simply not run (no n_valid shortage) still drops the column.
    rows.append(IntrinsicRow("d", "de", None, 0.2, None, 25.0, extra={"n_valid": 7}))
    assert "prompt_diversity" in fit_z_scores(rows).dropped


def test_stderr_of_a_bare_metric_key_is_its_own_stderr() -> None:
    from harness.score.lm_eval_results import _pick_metric

    assert _pick_metric({"acc": 0.61, "acc_stderr": 0.02}) == (0.61, 0.02)
    assert _pick_metric({"acc,none": 0.5, "acc_stderr,none": 0.01}) == (0.5, 0.01)
    assert _pick_metric({"acc": 0.61}) == (0.61, None)


def test_students_scored_on_different_benchmarks_are_refused() -> None:
    def row(role, bench, score, teacher=None):
        return ExtrinsicRow(role=role, student_family="f", benchmark=bench, language="de",
                            score=score, teacher=teacher, target_language="de" if teacher else None)  # fmt: skip

    rows = [
        row(r, b, 0.3 if r == "base" else 0.5) for r in ("base", "reference") for b in ("a", "b")
    ]
    rows += [row("student", "a", 0.4, "t1"), row("student", "b", 0.4, "t1")]
    rows += [row("student", "a", 0.45, "t2")]  # t2 lacks benchmark b
    with pytest.raises(ConfigError, match="different benchmark sets"):
        score_run(rows)


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _long_rows(student_score: float = 0.5, stderr: float | None = None) -> list[dict]:
    common = {"student_family": "fam", "benchmark": "mgsm", "language": "de"}
    return [
        {**common, "role": "base", "score": 0.40},
        {**common, "role": "reference", "score": 0.60},
        {**common, "role": "student", "score": 0.45, "teacher": "t1", "target_language": "de"},
        {**common, "role": "student", "score": student_score, "stderr": stderr,
         "teacher": "t2", "target_language": "de"},
    ]  # fmt: skip


def _score_cli():
    from harness.cli import analyze, leaderboard, score

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    for module in (score, leaderboard, analyze):
        module.add_parser(sub)
    return parser


def test_score_on_another_scale_is_refused_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # 55.0 on a 0..1 run gave PGR (55 - 0.4) / 0.2 = 273 silently.
    evals = _write_jsonl(tmp_path / "evals.jsonl", _long_rows(student_score=55.0))
    with pytest.raises(ConfigError, match=r"evals\.jsonl:4: .*score 55 is outside \[0, 1\]"):
        score_run(read_extrinsic(evals))
    out = tmp_path / "scores"
    args = _score_cli().parse_args(["score", "--extrinsic", str(evals), "--out", str(out)])
    assert args.run(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "evals.jsonl:4" in err and "--ceiling" in err
    assert not out.exists()  # nothing written from a bad input
    # The same numbers on a declared 0..100 scale are fine.
    scored = score_run(read_extrinsic(evals), policy=GapPolicy(ceiling=100.0))
    assert {r.teacher for r in scored} == {"t1", "t2"}


def test_negative_score_and_oversized_stderr_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"src:7: .*score -0.1 is outside"):
        score_run(
            [*anchors(), ExtrinsicRow("student", "fam", "mgsm", "de", -0.1, teacher="t",
                                      target_language="de", source="src:7")]
        )  # fmt: skip
    with pytest.raises(ConfigError, match=r"stderr 3 is outside \[0, 1\]"):
        score_run([*anchors(), student("t", 0.5, se=3.0)])
    with pytest.raises(ConfigError, match="ceiling"):
        GapPolicy(ceiling=0.0)


def test_heldout_score_below_zero_is_a_real_score() -> None:
    # 1 - bits_per_byte / 8 < 0: a base model worse than uniform bytes (documented range).
    rows = anchors(base=(-0.3,), ref=(0.2,), benches=("heldout",))
    rows.append(student("t", -0.1, bench="heldout"))
    (row,) = score_run(rows)
    assert row.pgr == pytest.approx(0.4)


def test_z_is_fitted_over_the_scored_cells_only(caplog: pytest.LogCaptureFixture) -> None:
    extrinsic = [*anchors(se=0.01), student("t1", 0.50, se=0.01), student("t2", 0.30, se=0.01)]
    scored_cells = [
        intrinsic("t1", "de", 0.2, 0.5, 3.0, 9.0),
        intrinsic("t2", "de", 0.4, 0.7, 4.0, 19.0),
    ]
    extra = [
        intrinsic("t3", "de", 0.9, 0.9, 5.0, 2.0),  # no student trained on it yet
        intrinsic("t1", "es", 0.0, 0.1, 1.0, 90.0),  # a language nobody scored
    ]
    with caplog.at_level(logging.WARNING):
        scored = {r.teacher: r for r in score_run(extrinsic, scored_cells + extra)}
    # Exactly the z of a run holding only t1/de and t2/de (test_z_score_hand_checked).
    assert scored["t1"].z_score == pytest.approx(-0.5)
    assert scored["t2"].z_score == pytest.approx(0.5)
    assert "left out of the z fit" in caplog.text
    assert "t3/de" in caplog.text and "t1/es" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        unmatched = score_run(extrinsic, extra[:1])
    assert all(r.z_score is None for r in unmatched)
    assert "no intrinsic row matches a scored" in caplog.text


def test_score_out_naming_an_existing_file_is_one_line_and_keeps_it(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    evals = _write_jsonl(tmp_path / "evals.jsonl", _long_rows())
    taken = tmp_path / "results.txt"
    taken.write_text("the user's notes\n", encoding="utf-8")
    for out in (taken, taken / "sub"):
        args = _score_cli().parse_args(["score", "--extrinsic", str(evals), "--out", str(out)])
        assert args.run(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "results.txt is an existing file" in err
    assert taken.read_text(encoding="utf-8") == "the user's notes\n"


def test_score_side_bad_inputs_end_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    parser = _score_cli()
    evals = _write_jsonl(tmp_path / "evals.jsonl", _long_rows())
    out = tmp_path / "scores"
    args = parser.parse_args(["score", "--extrinsic", str(evals), "--out", str(out)])
    assert args.run(args) == 0
    capsys.readouterr()
    latin1 = tmp_path / "latin1.jsonl"
    latin1.write_bytes(b'{"role": "base", "student_family": "f\xe9"}\n')
    lm_eval = tmp_path / "lm" / "model"
    lm_eval.mkdir(parents=True)
    (lm_eval / "results_2024.json").write_text('{"results": {"mgsm_de": ', encoding="utf-8")
    sizes = tmp_path / "sizes.json"
    sizes.write_text('{"t1": -3}', encoding="utf-8")
    cases = {
        "not valid UTF-8": ["score", "--extrinsic", str(latin1), "--out", str(tmp_path / "x")],
        "results_2024.json: not valid JSON": [
            "score", "--extrinsic", str(tmp_path / "lm"), "--out", str(tmp_path / "x"),
        ],
        "latin1.jsonl:1: not valid UTF-8": ["leaderboard", "--scores", str(latin1)],
        "unknown table value 'pgs'": ["leaderboard", "--scores", str(out), "--values", "pgs"],
        "names no column": ["leaderboard", "--scores", str(out), "--values", ","],
        "is an existing folder": ["leaderboard", "--scores", str(out), "--out", str(out)],
        "size of 't1' is -3": [
            "analyze", "--scores", str(out), "--sizes", str(sizes), "--out", str(tmp_path / "a"),
        ],
        "sizes.missing does not exist": [
            "analyze", "--scores", str(out), "--sizes", str(tmp_path / "sizes.missing"),
            "--out", str(tmp_path / "a"),
        ],
        "evals.jsonl is an existing file": ["analyze", "--scores", str(out), "--out", str(evals)],
    }  # fmt: skip
    for needle, argv in cases.items():
        args = parser.parse_args(argv)
        assert args.run(args) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and needle in err, (argv, err)
    assert not (tmp_path / "a").exists() and not (tmp_path / "x").exists()


def test_score_outputs_are_replaced_never_rewritten_in_place(tmp_path: Path) -> None:
    """Each output of score, leaderboard and analyze is renamed over the old one.

    A second name (hard link) for the old file keeps the old bytes only if the new file
    was written elsewhere and renamed; an in-place write, which a kill can tear, changes
    them.
    """
    parser = _score_cli()
    rows = []
    for i, lang in enumerate(("de", "es")):
        rows += [r.__dict__ for r in anchors(lang=lang, se=0.01)]
        rows += [student(f"t{j}", 0.42 + 0.03 * j + 0.01 * i, lang=lang, se=0.01).__dict__
                 for j in range(4)]  # fmt: skip
    evals = _write_jsonl(tmp_path / "evals.jsonl", rows)
    out, an = tmp_path / "scores", tmp_path / "an"

    def run_all() -> None:
        for argv in (
            ["score", "--extrinsic", str(evals), "--out", str(out)],
            ["leaderboard", "--scores", str(out)],
            ["analyze", "--scores", str(out), "--out", str(an)],
        ):
            args = parser.parse_args(argv)
            assert args.run(args) == 0

    run_all()
    outputs = [out / "scores.jsonl", out / "robustness.json", out / "leaderboard.md",
               an / "analysis.json", an / "pg_vs_size.png", an / "z_vs_extrinsic.png"]  # fmt: skip
    keep = tmp_path / "keep"
    keep.mkdir()
    for i, path in enumerate(outputs):
        path.write_bytes(b"old bytes")
        os.link(path, keep / str(i))
    run_all()
    for i, path in enumerate(outputs):
        assert (keep / str(i)).read_bytes() == b"old bytes", path
        assert path.read_bytes() != b"old bytes", path
    assert (an / "pg_vs_size.png").read_bytes().startswith(b"\x89PNG")
    left = [p.name for d in (out, an) for p in d.iterdir() if p.name.endswith(".tmp")]
    assert not left
