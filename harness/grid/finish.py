"""The grid's last jobs: score what finished, render the leaderboard, publish.

Scoring runs once every evaluation has *ended*, done or given up: a teacher whose jobs
failed is reported and left out, and the other teachers are still scored. Two rules of
the grid live here because no single stage owns them:

* a student whose teacher wrote no valid row was never trained, so it *is* its base:
  its scores are the base's (PGR 0), rather than the teacher vanishing from the table;
* the intrinsic z-scores are fitted over exactly the (teacher, language) cells that are
  scored, so a teacher whose students failed does not shift everyone else's z.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.evaluate.run import MANIFEST
from harness.files import atomic_write_text
from harness.grid.stages import UNTRAINED
from harness.naming import COSTS_FILE, LEADERBOARD_MD, PUBLISHED, SCORES_FILE, SUMMARY_FILE

logger = logging.getLogger(__name__)

REPORT = "grid_report.json"  # what was scored, and what was left out and why


def _extrinsic_rows(
    evals: list[str], unknown: list[Any]
) -> tuple[list[Any], list[dict[str, Any]], list[str]]:
    """(rows, untrained students, missing evaluation folders); unscorable tasks to ``unknown``."""
    from harness.score import read_extrinsic

    rows, untrained, missing = [], [], []
    for folder in map(Path, evals):
        if (folder / UNTRAINED).is_file():
            untrained.append(json.loads((folder / UNTRAINED).read_text(encoding="utf-8")))
        elif (folder / MANIFEST).is_file():
            rows += read_extrinsic(folder, unknown=unknown)
        else:
            missing.append(str(folder))
    return rows, untrained, missing


def _as_students(rows: list[Any], untrained: list[dict[str, Any]]) -> list[Any]:
    """Base rows standing in for students that could not be trained."""
    out = []
    for u in untrained:
        for r in rows:
            if r.role == "base" and r.student_family == u["family"] and r.language == u["language"]:
                out.append(replace(r, role="student", teacher=u["teacher"],
                                   target_language=u["language"], source=f"{r.source} (untrained)"))  # fmt: skip
    return out


def _scorable(rows: list[Any]) -> tuple[list[Any], list[str]]:
    """Drop student rows whose base or reference evaluation is missing, saying which."""
    from harness.score.pgscore import family_key

    anchors = {(r.role, family_key(r.student_family), r.language, r.benchmark)
               for r in rows if r.role != "student"}  # fmt: skip
    kept, dropped = [], set()
    for r in rows:
        if r.role == "student":
            need = [(role, family_key(r.student_family), r.language, r.benchmark)
                    for role in ("base", "reference")]  # fmt: skip
            if not all(n in anchors for n in need):
                dropped.add(f"{r.teacher}/{r.language}/{r.student_family}")
                continue
        kept.append(r)
    return kept, sorted(dropped)


def score(args: dict[str, Any]) -> dict[str, Any]:
    from harness.errors import EmptyDataError
    from harness.score import read_intrinsic, score_run, write_scores
    from harness.score.bootstrap import bootstrap_run
    from harness.score.config import ScoreConfig
    from harness.score.pgscore import teacher_key
    from harness.score.robustness import ROBUSTNESS_FILE, alpha_sweep, write_robustness

    out = Path(args["out"])
    unknown: list[Any] = []
    rows, untrained, missing = _extrinsic_rows(args["evals"], unknown)
    rows += _as_students(rows, untrained)
    rows, unanchored = _scorable(rows)
    summaries = [Path(m) / SUMMARY_FILE for m in args["metrics"]]
    intrinsic = [r for s in summaries if s.is_file() for r in read_intrinsic(s)]
    scored_cells = {
        (teacher_key(r.teacher), r.target_language) for r in rows if r.role == "student"
    }
    inside, outside = [], []
    for r in intrinsic:  # one pass: a grid has thousands of rows
        in_cell = (teacher_key(r.teacher), r.language) in scored_cells
        (inside if in_cell else outside).append(r)
    intrinsic = inside
    if not any(r.role == "student" for r in rows):
        raise EmptyDataError("no student could be scored: every evaluation failed or is missing")
    config = ScoreConfig(extrinsic="-", **args["score"])  # the score command's own defaults
    policy = config.policy()
    scored = score_run(rows, intrinsic or None, policy=policy, protocol=args.get("protocol"))
    write_scores(scored, out / SCORES_FILE)
    write_robustness(alpha_sweep(scored), out / ROBUSTNESS_FILE)
    if config.replicates > 0:
        bootstrap_run(rows, intrinsic or None, out=out, policy=policy,
                      replicates=config.replicates, seed=config.seed)  # fmt: skip
    # One intrinsic summary for the whole grid: what `publish` and `analyze` read.
    lines = [s.read_text(encoding="utf-8") for s in summaries if s.is_file()]
    atomic_write_text(Path(args["root"]) / "metrics" / SUMMARY_FILE, "".join(lines))
    report = {
        "scored": len(scored),
        "untrained_students": untrained,
        "missing_evaluations": missing,
        "students_without_anchors": unanchored,
        "intrinsic_outside_scored_cells": sorted(f"{r.teacher}/{r.language}" for r in outside),
        "protocol": args.get("protocol"),
        "tasks_not_scored": [str(u) for u in unknown],
    }
    atomic_write_text(out / REPORT, json.dumps(report, indent=1) + "\n")
    for what in ("missing_evaluations", "students_without_anchors", "tasks_not_scored"):
        if report[what]:
            logger.warning("score: %s: %s", what.replace("_", " "), report[what])
    return {"scored": len(scored)}


def leaderboard(args: dict[str, Any]) -> dict[str, Any]:
    """``leaderboard.md`` with each teacher's measured GPU-hours, and the cost summary."""
    from harness.grid.costs import format_summary, teacher_gpu_hours
    from harness.grid.records import GridPaths, cost_records
    from harness.score import read_scores
    from harness.score.costs import cost_table
    from harness.score.intervals import read_intervals
    from harness.score.tables import leaderboard as render
    from harness.score.tables import read_predicted

    scores = read_scores(args["scores"])
    records = cost_records(GridPaths(Path(args["root"])))
    hours = teacher_gpu_hours(records)
    text = render(
        scores, tablefmt="github", values=("pg_score", "headroom_gain"),
        intervals=read_intervals(args["scores"], scores), predicted=read_predicted(args["scores"]),
    )  # fmt: skip
    text += "\n" + cost_table(hours, tablefmt="github") + "\n"
    out = Path(args["scores"])
    atomic_write_text(out / LEADERBOARD_MD, text)
    atomic_write_text(out / COSTS_FILE, json.dumps(hours, indent=1) + "\n")
    atomic_write_text(out / "costs.txt", format_summary(records) + "\n")
    return {}


def publish(args: dict[str, Any]) -> dict[str, Any]:
    from harness.publish.run import PublishConfig
    from harness.publish.run import publish as push

    inputs = [p for p in args["inputs"] if Path(p).exists()]
    report = push(PublishConfig(inputs=inputs, **args["publish"]))
    summary = report.summary()
    atomic_write_text(Path(args["root"]) / "scores" / PUBLISHED,
                      json.dumps({"summary": summary}, indent=1) + "\n")  # fmt: skip
    return {}


STAGES = {"score": score, "leaderboard": leaderboard, "publish": publish}
