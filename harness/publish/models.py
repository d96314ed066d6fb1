"""Push the trained students: one model repo per run folder, card rewritten for the Hub.

The run folder is uploaded as the trainer left it (model or LoRA adapter, tokenizer,
``polyglot_run.json``), minus checkpoints, lm-eval output (those go to the results
repo) and the trainer's pickled state (``training_args.bin``: unpickling it runs code,
and it holds local paths and any ``hub_token`` the run was given; the card already
records the hyperparameters). The card keeps the trainer's text, but its metadata now points at the published
dataset repo and revision and carries a ``model-index`` of the student's results.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.publish.cards import eval_results, student_card
from harness.publish.datasets import PushedDataset
from harness.publish.plan import EvalSource, PlannedRepo, RepoNames, StudentSource
from harness.publish.session import HubSession

logger = logging.getLogger(__name__)

CARD = "README.md"
# Pickles the HF Trainer writes next to the model: nobody needs them to use the model,
# and loading one executes code. Matched against file names anywhere in the run folder.
PICKLED_TRAINER_STATE: tuple[str, ...] = (
    "training_args.bin",
    "optimizer.pt",
    "scheduler.pt",
    "scaler.pt",
    "rng_state*.pth",
)


@dataclass(frozen=True)
class PushedModel:
    """Where one student now lives on the Hub, and whose student it is."""

    run_name: str
    repo_id: str
    revision: str
    student_family: str
    teacher: str
    language: str


def uploaded_files(student: StudentSource) -> list[Path]:
    """The student's files that go to its model repo: all but pickled trainer state."""
    return [
        f
        for f in student.files
        if not any(fnmatch.fnmatchcase(f.name, pattern) for pattern in PICKLED_TRAINER_STATE)
    ]


def plan_students(students: Sequence[StudentSource], names: RepoNames) -> list[PlannedRepo]:
    """The model repos a publish would write (for ``--dry-run``)."""
    planned = []
    for student in students:
        files = sorted({*(str(f) for f in uploaded_files(student)), CARD})
        mode = student.metadata.get("mode", "full")
        planned.append(PlannedRepo(names.student(student.name), "model", tuple(files), note=mode))
    return planned


def _matching_dataset(
    meta: dict[str, Any], pushed: Sequence[PushedDataset]
) -> PushedDataset | None:
    from harness.score.pgscore import teacher_key

    for dataset in pushed:
        if (
            teacher_key(dataset.teacher) == teacher_key(meta["teacher"])
            and dataset.language == meta["target_language"]
        ):
            return dataset
    return None  # fmt: skip


def matching_score(meta: dict[str, Any], scores: Sequence[Any]) -> Any | None:
    """The score row of this student's (teacher, language, family), if scored."""
    from harness.score.pgscore import family_key, teacher_key

    for row in scores:
        if (
            teacher_key(row.teacher) == teacher_key(meta["teacher"])
            and row.language == meta["target_language"]
            and family_key(row.student_family) == family_key(meta["student_family"])
        ):
            return row
    return None


def _benchmarks(student: StudentSource, evals: Sequence[EvalSource]) -> list[dict[str, Any]]:
    from harness.score.lm_eval_results import lm_eval_protocol, read_lm_eval_results
    from harness.score.rows import protocol_name

    rows: list[dict[str, Any]] = []
    meta = student.metadata
    for source in evals:
        if source.owner != student.name:
            continue
        try:
            record, where = lm_eval_protocol(source.folder)
            found = read_lm_eval_results(
                source.folder,
                role="student",
                student_family=meta["student_family"],
                teacher=meta["teacher"],
                target_language=meta["target_language"],
                protocol=protocol_name(record, where=str(where)),
            )
        except HarnessError as exc:
            # Deliberately not fatal: these scores only fill the card's model-index; a
            # student whose results cannot be read is still published, and the warning
            # names the folder. (Not a second error handler: nothing is shown as an error.)
            logger.warning("%s: lm-eval results not readable for the card (%s)", source.folder, exc)  # fmt: skip
            continue
        rows += [
            {"benchmark": r.benchmark, "language": r.language, "score": r.score,
             "protocol": r.protocol}
            for r in found
        ]  # fmt: skip
    return sorted(rows, key=lambda r: (r["benchmark"], r["language"]))


def publish_students(
    session: HubSession,
    students: Sequence[StudentSource],
    *,
    datasets: Sequence[PushedDataset],
    scores: Sequence[Any],
    evals: Sequence[EvalSource],
) -> list[PushedModel]:
    """Upload each student folder with its Hub card in one commit per student.

    Args:
        session: the Hub session.
        students: finished run folders found on disk.
        datasets: what :func:`harness.publish.datasets.publish_datasets` pushed, so the
            card can name the exact dataset repo and revision.
        scores: ScoreRows of the run (for the Polyglot Score in ``model-index``).
        evals: lm-eval output folders (for per-benchmark ``model-index`` entries).
    """
    pushed = []
    for student in students:
        meta = student.metadata
        repo_id = session.names.student(student.name)
        dataset = _matching_dataset(meta, datasets)
        if dataset is None:
            logger.warning("%s: its dataset was not published in this run; the card cannot link it", student.name)  # fmt: skip
        score = matching_score(meta, scores)
        results = eval_results(
            repo_id,
            meta["target_language"],
            _benchmarks(student, evals),
            score.to_json() if score is not None else None,
            results_repo=session.names.results,
            leaderboard_repo=session.names.leaderboard,
            endpoint=session.endpoint,
        )
        local_card = student.run_dir / CARD
        card = student_card(
            local_card.read_text(encoding="utf-8") if local_card.is_file() else None,
            meta,
            model_id=repo_id,
            dataset_repo=dataset.repo_id if dataset else None,
            dataset_revision=dataset.revision if dataset else None,
            results=results,
        )
        files: dict[str, Any] = {str(rel): student.run_dir / rel for rel in uploaded_files(student)}
        files[CARD] = card.encode()
        session.ensure_repo(repo_id, "model")
        logger.info("uploading %s (%d files) to %s", student.run_dir, len(files), repo_id)
        sha = session.commit(repo_id, "model", files, f"Upload student {student.name}")
        pushed.append(
            PushedModel(
                student.name,
                repo_id,
                sha,
                meta["student_family"],
                meta["teacher"],
                meta["target_language"],
            )
        )
    return pushed
