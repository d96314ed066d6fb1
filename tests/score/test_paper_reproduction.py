"""Consistency checks of the paper's published numbers with our scorer's formulas.

What these tests are, honestly: the paper publishes per-row results, not the raw inputs
behind them (no base or reference scores, no per-dataset intrinsic metrics). So nothing
here recomputes a published PG from raw inputs; each test checks that the published
numbers agree with each other under the scorer's formulas:

- PG rows: ``result = base + pgr * (reference - base)`` is linear in ``pgr``, so a
  least-squares line through a language's ten rows recovers ``base`` (intercept) and
  ``reference - base`` (slope) *from the same rows*; the scorer, given those anchors and
  the published ``z_score``, must give back every row's ``pgr`` and ``pg_score``.
- Teacher benchmark table: each language's ``avg_<lang>`` is recomputed by the scorer
  from the published per-benchmark scores (the mean-over-benchmarks rule).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.score.pgscore import score_run
from harness.score.rows import ExtrinsicRow

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reference"
FAMILIES = ("gemma3-4b", "llama3-8b", "qwen3-8b")
BENCHMARK = "paper_mean"  # the fixtures hold per-language means only


def load_paper_rows(family: str) -> list[dict]:
    path = FIXTURES / f"pg_scores_base_{family}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def recover_anchors(rows: list[dict]) -> dict[str, tuple[float, float, float]]:
    """(base, reference, max residual) per language from the rows' (pgr, result) pairs."""
    out = {}
    for lang in sorted({r["target_lang"] for r in rows}):
        pgr = np.array([r["pgr"] for r in rows if r["target_lang"] == lang])
        result = np.array([r["result"] for r in rows if r["target_lang"] == lang])
        design = np.column_stack([np.ones_like(pgr), pgr])
        (base, gap), *_ = np.linalg.lstsq(design, result, rcond=None)
        out[lang] = (
            float(base),
            float(base + gap),
            float(np.abs(design @ [base, gap] - result).max()),
        )
    return out


def paper_inputs(
    family: str,
) -> tuple[list[ExtrinsicRow], dict[tuple[str, str], float], list[dict]]:
    rows = load_paper_rows(family)
    extrinsic = []
    for lang, (base, ref, _) in recover_anchors(rows).items():
        for role, score in (("base", base), ("reference", ref)):
            extrinsic.append(ExtrinsicRow(role, family, BENCHMARK, lang, score))
    for r in rows:
        extrinsic.append(
            ExtrinsicRow(
                "student",
                family,
                BENCHMARK,
                r["target_lang"],
                r["result"],
                stderr=r["result_stderr"],
                teacher=r["teacher_model"],
                target_language=r["target_lang"],
            )
        )
    z = {(r["teacher_model"], r["target_lang"]): r["z_score"] for r in rows}
    return extrinsic, z, rows


@pytest.mark.parametrize("family", FAMILIES)
def test_consistency_published_rows_lie_on_one_line_per_language(family: str) -> None:
    anchors = recover_anchors(load_paper_rows(family))
    assert set(anchors) == {"ar", "de", "id"}
    for _, _, residual in anchors.values():
        assert residual < 1e-9  # the rows really are on one line per language


@pytest.mark.parametrize("family", FAMILIES)
def test_consistency_scorer_gives_back_every_published_pgr_and_pg(family: str) -> None:
    extrinsic, z, paper = paper_inputs(family)
    scored = {(s.teacher, s.language): s for s in score_run(extrinsic, z_scores=z)}
    assert len(scored) == len(paper) == 30
    for row in paper:
        got = scored[(row["teacher_model"], row["target_lang"])]
        assert got.student_score == pytest.approx(row["result"], abs=1e-12)
        assert got.pgr == pytest.approx(row["pgr"], abs=1e-6)
        assert got.z_score == pytest.approx(row["z_score"], abs=1e-12)
        assert got.pg_score == pytest.approx(row["pg_score"], abs=1e-6)


@pytest.mark.parametrize("family", FAMILIES)
def test_consistency_paper_gaps_are_flagged_ill_conditioned(family: str) -> None:
    """de and id have reference < base; ar's +0.015 gap is within two accuracy points."""
    extrinsic, z, _ = paper_inputs(family)
    scored = score_run(extrinsic, z_scores=z)
    gaps = {s.language: s.gap for s in scored}
    assert gaps["de"] < 0 and gaps["id"] < 0 and 0 < gaps["ar"] < 0.02
    assert all(s.pgr_ill_conditioned for s in scored)
    # The well-conditioned score stays in a sane range where PGR reaches |7|.
    assert max(abs(s.pgr) for s in scored) > 3
    assert all(abs(s.headroom_gain) < 0.2 for s in scored)


def test_teacher_table_language_means_recomputed_from_per_benchmark_scores() -> None:
    """A language's score is the mean over its benchmarks (METHOD.md): the scorer's mean
    of the published per-benchmark scores gives the published ``avg_<lang>``.

    Base 0 and reference 1 make the scorer's PGR the student mean itself, so the check
    goes through ``score_run`` rather than a second mean written here.
    """
    path = FIXTURES / "teacher_benchmark_scores.jsonl"
    teachers = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows, want = [], {}
    for t in teachers:
        for key, value in t.items():
            bench, _, lang = key.rpartition("_")
            if key.startswith("avg_") or "stderr" in key or not bench or len(lang) != 2:
                continue
            rows.append(ExtrinsicRow("student", "teachers", bench, lang, value,
                                     teacher=t["model_name"], target_language=lang))  # fmt: skip
            want[(t["model_name"], lang)] = t[f"avg_{lang}"]
    for bench, lang in {(r.benchmark, r.language) for r in rows}:
        rows.append(ExtrinsicRow("base", "teachers", bench, lang, 0.0))
        rows.append(ExtrinsicRow("reference", "teachers", bench, lang, 1.0))
    scored = score_run(rows)
    assert len(scored) == len(want) == 3 * len(teachers)
    for s in scored:
        assert len(s.benchmarks) == 3
        assert s.pgr == pytest.approx(want[(s.teacher, s.language)], abs=1e-9)
