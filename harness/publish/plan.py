"""What a publish run would push: inputs found on disk, repo names, and the dry-run listing.

Why a separate, Hub-free step: ``--dry-run`` must show every repo, file and row count
without a single request, and the real run must push exactly that. Both start here.
Inputs are recognised by what they hold, not by their names, so the user story's
``publish --org my-org data/ students/ scores/`` needs no flags.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, InputNotFoundError
from harness.naming import (
    DATA_FILE,
    LEADERBOARD_ROWS,
    RESULTS_GLOB,
    RUN_RECORD,
    SCORES_FILE,
    SUMMARY_FILE,
    hub_repo_id,
    samples_glob,
    slug,
    student_run_name,
)

logger = logging.getLogger(__name__)

SIDECAR = RUN_RECORD
# Never uploaded with a student: optimizer state, partial files, local caches.
STUDENT_EXCLUDE_DIRS: frozenset[str] = frozenset({"checkpoints", "__pycache__", "runs"})
LEADERBOARD_FILE = LEADERBOARD_ROWS


@dataclass(frozen=True)
class DatasetSource:
    """One collected dataset: ``<data>/<teacher_slug>/<lang>/data.parquet``."""

    teacher: str
    language: str
    path: Path
    n_rows: int


@dataclass(frozen=True)
class EvalSource:
    """One lm-eval output folder: ``results_<date>.json`` files and their samples."""

    folder: Path
    results: tuple[Path, ...]
    samples: tuple[Path, ...]
    owner: str | None  # the student run name these results belong to, if a student's


@dataclass(frozen=True)
class StudentSource:
    """One finished student run folder (its sidecar is present)."""

    run_dir: Path
    metadata: dict[str, Any]
    files: tuple[Path, ...]  # relative paths to upload, checkpoints and evals excluded

    @property
    def name(self) -> str:
        return self.run_dir.name


@dataclass
class PublishInputs:
    """Everything found on disk for one publish run."""

    datasets: list[DatasetSource] = field(default_factory=list)
    students: list[StudentSource] = field(default_factory=list)
    evals: list[EvalSource] = field(default_factory=list)
    scores: Path | None = None
    metrics: Path | None = None


@dataclass(frozen=True)
class RepoNames:
    """Repo ids of one org, built in one place (via :func:`harness.naming.hub_repo_id`)."""

    org: str

    def dataset(self, teacher: str) -> str:
        return hub_repo_id(self.org, "data", teacher)

    def student(self, run_name: str) -> str:
        return hub_repo_id(self.org, "student", run_name)

    @property
    def results(self) -> str:
        return hub_repo_id(self.org, "lm-eval-results")

    @property
    def leaderboard(self) -> str:
        return hub_repo_id(self.org, "leaderboard")  # the dataset and the Space share it


@dataclass(frozen=True)
class PlannedRepo:
    """One repo a publish run writes, for ``--dry-run`` and the final report."""

    repo_id: str
    repo_type: str
    files: tuple[str, ...]
    rows: int | None = None
    note: str = ""


def _count_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def _teacher_of(path: Path, fallback: str) -> str:
    import pyarrow.parquet as pq

    column = pq.read_table(path, columns=["teacher"]).column("teacher").to_pylist()
    names = {name for name in column if name}
    return names.pop() if len(names) == 1 else fallback


def find_datasets(root: Path) -> list[DatasetSource]:
    """Every ``<teacher_slug>/<lang>/data.parquet`` under ``root``."""
    found = []
    for path in sorted(root.glob(f"*/*/{DATA_FILE}")):
        teacher = _teacher_of(path, path.parent.parent.name)
        found.append(DatasetSource(teacher, path.parent.name, path, _count_rows(path)))
    return found


def _eval_folders(root: Path) -> list[Path]:
    return sorted({p.parent for p in root.rglob(RESULTS_GLOB)})


def _student_files(run_dir: Path, skip: Iterable[Path]) -> tuple[Path, ...]:
    skipped = {p.resolve() for p in skip}
    files = []
    for path in sorted(run_dir.rglob("*")):
        rel = path.relative_to(run_dir)
        if not path.is_file() or any(part.startswith(".") for part in rel.parts):
            continue
        if rel.parts[0] in STUDENT_EXCLUDE_DIRS or path.suffix in (".tmp", ".partial"):
            continue
        if any(parent.resolve() in skipped for parent in path.parents):
            continue  # lm-eval output goes to the results repo, not the model repo
        files.append(rel)
    return tuple(files)


def find_students(root: Path) -> list[StudentSource]:
    """Finished student runs: ``root`` itself or its sub-folders holding a sidecar."""
    runs = (
        [root]
        if (root / SIDECAR).is_file()
        else sorted(p.parent for p in root.glob(f"*/{SIDECAR}"))
    )
    students = []
    for run_dir in runs:
        metadata = json.loads((run_dir / SIDECAR).read_text(encoding="utf-8"))
        if metadata.get("role", "student") != "student":
            continue
        students.append(
            StudentSource(run_dir, metadata, _student_files(run_dir, _eval_folders(run_dir)))
        )
    return students  # fmt: skip


def _owner(folder: Path, students: Sequence[StudentSource]) -> str | None:
    """The student run these lm-eval results belong to: the folder they sit in, else who
    :func:`harness.score.lm_eval_results.results_identity` says they are (record, then names)."""
    from harness.score.lm_eval_results import results_identity

    where = folder.resolve()
    for s in students:
        if s.run_dir.resolve() == where or s.run_dir.resolve() in where.parents:
            return s.name
    identity = results_identity(folder)
    if identity is None or identity["role"] != "student":
        return None
    fields = (identity["student_family"], identity["teacher"], identity["target_language"])
    if not all(fields):
        return None
    name = student_run_name(*fields)
    return name if name in {s.name for s in students} else None


def find_evals(roots: Iterable[Path], students: Sequence[StudentSource]) -> list[EvalSource]:
    """lm-eval output folders under ``roots`` and inside every student folder."""
    folders = {f for root in roots for f in _eval_folders(root)}
    folders |= {f for s in students for f in _eval_folders(s.run_dir)}
    evals = []
    for folder in sorted(folders):
        results = tuple(sorted(folder.glob(RESULTS_GLOB)))
        samples = tuple(sorted(folder.glob(samples_glob())))
        evals.append(EvalSource(folder, results, samples, _owner(folder, students)))
    return evals


def classify(path: Path) -> str:
    """Which input ``path`` is: data, students, scores, metrics or evals."""
    if not path.exists():
        raise InputNotFoundError(f"publish input {path} does not exist")
    if path.is_file():
        kinds = {SCORES_FILE: "scores", SUMMARY_FILE: "metrics"}
        if path.name in kinds:
            return kinds[path.name]
        raise ConfigError(f"{path}: expected a folder, {SCORES_FILE} or {SUMMARY_FILE}")
    if (path / SCORES_FILE).is_file():
        return "scores"
    if (path / SUMMARY_FILE).is_file():
        return "metrics"
    if (path / SIDECAR).is_file() or any(path.glob(f"*/{SIDECAR}")):
        return "students"
    if any(path.glob(f"*/*/{DATA_FILE}")):
        return "data"
    if any(path.rglob(RESULTS_GLOB)):
        return "evals"
    raise ConfigError(
        f"{path}: not a publish input; expected collected data (<teacher>/<lang>/{DATA_FILE}), "
        f"student runs (<run>/{SIDECAR}), {SCORES_FILE}, an intrinsic {SUMMARY_FILE} or "
        "lm-eval results"
    )


def discover_inputs(paths: Sequence[str | Path]) -> PublishInputs:
    """Sort the given paths into the inputs of a publish run.

    Raises:
        InputNotFoundError: a path does not exist.
        ConfigError: a path holds nothing publishable, or two paths claim one role
            that can only be given once (scores, metrics).
    """
    inputs = PublishInputs()
    eval_roots: list[Path] = []
    student_roots: list[Path] = []
    for raw in paths:
        path = Path(raw)
        kind = classify(path)
        if kind == "data":
            inputs.datasets += find_datasets(path)
        elif kind == "students":
            student_roots.append(path)
        elif kind == "evals":
            eval_roots.append(path)
        else:
            file = (
                path
                if path.is_file()
                else path / (SCORES_FILE if kind == "scores" else SUMMARY_FILE)
            )
            if getattr(inputs, kind) is not None:
                raise ConfigError(
                    f"two {kind} inputs given ({getattr(inputs, kind)} and {file}); pass one"
                )
            setattr(inputs, kind, file)
    for root in student_roots:
        inputs.students += find_students(root)
    inputs.evals = find_evals(eval_roots, inputs.students)
    return inputs  # fmt: skip


def describe(planned: Sequence[PlannedRepo], *, private: bool) -> str:
    """The dry-run listing: one block per repo, its files and row counts."""
    lines = [f"would publish {len(planned)} repos ({'private' if private else 'public'}):"]
    for repo in planned:
        rows = f", {repo.rows} rows" if repo.rows is not None else ""
        note = f" ({repo.note})" if repo.note else ""
        lines.append(f"  {repo.repo_type} {repo.repo_id}: {len(repo.files)} files{rows}{note}")
        lines += [f"    {name}" for name in repo.files]
    return "\n".join(lines)


def results_model_name(source: EvalSource, names: RepoNames) -> str:
    """The folder lm-eval's tracker would use: the sanitized model name.

    A student's results are filed under its Hub repo id, so the details point at the
    published model rather than at a local path.
    """
    from lm_eval.utils import sanitize_model_name

    if source.owner is not None:
        return sanitize_model_name(names.student(source.owner))
    for file in reversed(source.results):
        data = json.loads(file.read_text(encoding="utf-8"))
        if data.get("model_name_sanitized"):
            return str(data["model_name_sanitized"])
        if data.get("model_name"):
            return sanitize_model_name(str(data["model_name"]))
    return slug(source.folder.name)
