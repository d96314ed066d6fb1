"""The whole chain offline: generate -> intrinsic -> train -> evaluate -> score -> leaderboard."""

from __future__ import annotations

import json
from pathlib import Path

from harness.pipeline import BAD_TEACHER, SMOLLM2, PipelineConfig, run_pipeline


def test_pipeline_ranks_the_bad_teacher_below_smollm2(tmp_path: Path) -> None:
    result = run_pipeline(PipelineConfig(out=tmp_path, languages=["de", "es"], limit=2))
    by_teacher: dict[str, list[float]] = {}
    for row in result.scores:
        by_teacher.setdefault(row.teacher, []).append(row.pg_score)
    assert set(by_teacher) == {SMOLLM2, BAD_TEACHER}
    mean = {t: sum(v) / len(v) for t, v in by_teacher.items()}
    assert mean[SMOLLM2] > mean[BAD_TEACHER]
    # The random-init teacher writes nothing valid: no student could be trained, so its
    # student is the base (PGR exactly 0) and its intrinsic metrics are the run's worst.
    for row in result.scores:
        if row.teacher == BAD_TEACHER:
            assert row.pgr == 0.0 and row.student_score == row.base_score
    # Every stage left its artefacts behind.
    assert (result.paths["metrics"] / "summary.jsonl").is_file()
    sidecars = list(result.paths["students"].rglob("polyglot_run.json"))
    assert any(json.loads(p.read_text())["teacher"] == SMOLLM2 for p in sidecars)
    assert "random-tiny-llama" in result.leaderboard and SMOLLM2 in result.leaderboard
    assert result.paths["scores"].is_file()
    # A rerun finds everything done and gives the same scores.
    again = run_pipeline(PipelineConfig(out=tmp_path, languages=["de", "es"], limit=2))
    assert [r.pg_score for r in again.scores] == [r.pg_score for r in result.scores]
