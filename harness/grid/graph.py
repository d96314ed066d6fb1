"""Compile a grid into plain-data jobs: what runs, with which arguments, after what.

A :class:`Job` is data, not code: a stage name, a stable key, the JSON arguments of the
stage call, its output paths and the keys it waits for. It can be written to a file,
sent to a SLURM node or a Ray worker, and run there by :mod:`harness.grid.worker`.

Its ``fingerprint`` hashes the stage, its arguments and the fingerprints of the jobs it
depends on. A job is *done* when its outputs exist and the stamp written when it
finished holds the same fingerprint; so a changed setting re-runs exactly the jobs it
reaches, and a new teacher adds its own jobs while every shared one (a base model's
evaluation) stays done.

Layout of a grid's output folder (one place builds every path)::

    runs/<teacher>/<lang>/        lm-eval generation output      (generate)
    data/<teacher>/<lang>/        data.parquet                    (collect)
    metrics/<teacher>/<lang>/     intrinsic caches + summary.jsonl (intrinsic)
    reference-data/<lang>/        gold seed pairs                 (reference_data)
    students/<family>--<teacher>--<lang>/                         (train)
    references/<family>--gold-seeds--<lang>/    a seed-trained reference (train)
    evals/<role>--<family>[--<teacher>--<lang>]/                  (evaluate)
    scores/                       scores.jsonl, robustness.json, leaderboard.md
    jobs.jsonl, costs.jsonl, logs/<job>.log, .grid/               the driver's records
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.evaluate.run import MANIFEST
from harness.grid.executors import Resources
from harness.grid.spec import SEED_TRAINED, GridSpec, StudentEntry, TeacherEntry, stage_settings
from harness.naming import (
    DATA_FILE,
    LEADERBOARD_MD,
    PUBLISHED,
    RUN_RECORD,
    SCORES_FILE,
    SUMMARY_FILE,
    eval_run_name,
    slug,
    student_run_name,
)

REFERENCE_TEACHER = "gold-seeds"  # the "teacher" of a seed-trained reference's data


@dataclass(frozen=True)
class Job:
    """One unit of work of the grid."""

    key: str  # stable, human-readable, unique: ``train/<teacher>/<lang>/<family>``
    stage: str
    args: dict[str, Any]  # JSON-able arguments of the stage call
    outputs: tuple[str, ...]  # paths whose existence (with the stamp) means done
    deps: tuple[str, ...] = ()  # keys that must be done first
    soft_deps: tuple[str, ...] = ()  # keys that must have ended (done or given up)
    resources: Resources = field(default_factory=Resources)
    fingerprint: str = ""
    teacher: str | None = None  # for cost summaries; None: shared by all teachers
    language: str | None = None
    family: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["resources"] = asdict(self.resources)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Job:
        data = dict(data)
        data["resources"] = Resources(**data["resources"])
        for name in ("outputs", "deps", "soft_deps"):
            data[name] = tuple(data[name])
        return cls(**data)

    @property
    def file_name(self) -> str:
        """A file-system safe name of the key (logs, stamps, job files)."""
        return self.key.replace("/", "__")


def _family_def(family: StudentEntry) -> dict[str, Any] | None:
    """An inline family's definition (part of its jobs' arguments); None: students.yaml."""
    if not family.inline:
        return None
    return {"base_model": family.base_model, "reference_model": family.reference_model,
            "mode": family.mode, "chat_template": family.chat_template}  # fmt: skip


def _fingerprint(stage: str, args: dict[str, Any], deps: list[str], root: Path) -> str:
    """Hash of what a job computes, with paths relative to the grid root (a moved or
    copied grid folder keeps its finished jobs)."""
    blob = json.dumps({"stage": stage, "args": args, "deps": deps}, sort_keys=True, default=str)
    blob = blob.replace(str(root), "<root>")
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


class _Builder:
    def __init__(self, spec: GridSpec) -> None:
        self.spec = spec
        self.root = spec.out.resolve()
        self.jobs: dict[str, Job] = {}

    def path(self, *parts: str) -> str:
        return str(self.root.joinpath(*parts))

    def add(self, key: str, stage: str, args: dict[str, Any], outputs: list[str],
            deps: list[str] = (), soft_deps: list[str] = (), **meta: Any) -> str:  # fmt: skip
        if key in self.jobs:
            return key  # shared jobs appear once
        upstream = [self.jobs[d].fingerprint for d in (*deps, *soft_deps)]
        self.jobs[key] = Job(
            key=key, stage=stage, args=args, outputs=tuple(outputs), deps=tuple(deps),
            soft_deps=tuple(soft_deps), resources=self.spec.resources_for(stage),
            fingerprint=_fingerprint(stage, args, upstream, self.root), **meta,
        )  # fmt: skip
        return key

    # -- teacher side -------------------------------------------------------------------
    def teacher_jobs(self, teacher: TeacherEntry, lang: str) -> str:
        t = slug(teacher.name)
        meta = {"teacher": teacher.name, "language": lang}
        runs = self.path("runs", t, lang)
        gen = self.add(
            f"generate/{t}/{lang}", "generate",
            {"teacher": teacher.name, "model": teacher.model, "model_args": teacher.model_args,
             "language": lang, "strategies": list(self.spec.strategies),
             "generation": stage_settings(self.spec, {**self.spec.generation, **teacher.generation}),
             "runs": runs},
            [runs], **meta,
        )  # fmt: skip
        data = self.path("data", t, lang)
        col = self.add(
            f"collect/{t}/{lang}", "collect",
            {"teacher": teacher.name, "language": lang, "runs": runs, "data": self.path("data"),
             "protocol": self.spec.protocol},
            [str(Path(data) / DATA_FILE)], [gen], **meta,
        )  # fmt: skip
        metrics = self.path("metrics", t, lang)
        self.add(
            f"intrinsic/{t}/{lang}", "intrinsic",
            {"data": data, "out": metrics, "options": stage_settings(self.spec, self.spec.intrinsic)},
            [str(Path(metrics) / SUMMARY_FILE)], [col], **meta,
        )  # fmt: skip
        return col

    # -- student side -------------------------------------------------------------------
    def train_args(self, family: StudentEntry) -> dict[str, Any]:
        return stage_settings(self.spec, {**self.spec.train, **family.train})

    def reference_jobs(self, family: StudentEntry, lang: str) -> str:
        """The evaluate job of a family's reference in ``lang`` (trained first if seed-trained)."""
        f = slug(family.name)
        meta = {"language": lang, "family": family.name}
        deps: list[str] = []
        if family.reference_model == SEED_TRAINED:
            ref_data = self.path("reference-data", lang)
            data_job = self.add(
                f"reference_data/{lang}", "reference_data",
                {"language": lang, "out": ref_data,
                 "seeds": self.spec.generation.get("seeds")},
                [str(Path(ref_data) / DATA_FILE)], language=lang,
            )  # fmt: skip
            # references/, not students/: publish pushes students/ as student models
            run = self.path("references", student_run_name(family.name, REFERENCE_TEACHER, lang))
            deps = [self.add(
                f"train/{REFERENCE_TEACHER}/{lang}/{f}", "train",
                {"dataset": ref_data, "family": family.name, "out": self.path("references"),
                 "family_def": _family_def(family), "train": self.train_args(family),
                 "run_dir": run},
                [str(Path(run) / RUN_RECORD)], [data_job], **meta,
            )]  # fmt: skip
            source = {"student_run": run}
        else:
            source = {"family_model": "reference_model"}
        out = self.path("evals", eval_run_name("reference", family.name, language=lang))
        return self.add(
            f"evaluate/reference/{f}/{lang}", "evaluate",
            {"role": "reference", "family": family.name, "languages": [lang], "out": out,
             "family_def": _family_def(family), "evaluation": stage_settings(self.spec, self.spec.evaluation),
             **source},
            [str(Path(out) / MANIFEST)], deps, **meta,
        )  # fmt: skip

    def base_job(self, family: StudentEntry) -> str:
        """One evaluation of a family's base over every grid language, shared by all teachers."""
        f = slug(family.name)
        out = self.path("evals", eval_run_name("base", family.name))
        return self.add(
            f"evaluate/base/{f}", "evaluate",
            {"role": "base", "family": family.name, "languages": list(self.spec.languages),
             "out": out, "family_def": _family_def(family),
             "evaluation": stage_settings(self.spec, self.spec.evaluation), "family_model": "base_model"},
            [str(Path(out) / MANIFEST)], family=family.name,
        )  # fmt: skip

    def student_jobs(self, teacher: TeacherEntry, lang: str, family: StudentEntry,
                     collect_key: str) -> str:  # fmt: skip
        t, f = slug(teacher.name), slug(family.name)
        meta = {"teacher": teacher.name, "language": lang, "family": family.name}
        run = self.path("students", student_run_name(family.name, teacher.name, lang))
        train = self.add(
            f"train/{t}/{lang}/{f}", "train",
            {"dataset": self.path("data", t, lang), "family": family.name,
             "out": self.path("students"), "family_def": _family_def(family),
             "train": self.train_args(family), "run_dir": run},
            [run], [collect_key], **meta,
        )  # fmt: skip
        out = self.path("evals", eval_run_name("student", family.name, teacher.name, lang))
        return self.add(
            f"evaluate/student/{t}/{lang}/{f}", "evaluate",
            {"role": "student", "family": family.name, "teacher": teacher.name,
             "languages": [lang], "out": out, "student_run": run,
             "family_def": _family_def(family), "evaluation": stage_settings(self.spec, self.spec.evaluation)},
            [out], [train], **meta,
        )  # fmt: skip


def compile_grid(spec: GridSpec) -> list[Job]:
    """The grid's jobs in a valid execution order (every job after its dependencies)."""
    b = _Builder(spec)
    evaluations: list[str] = []
    intrinsic: list[str] = []
    collected: dict[tuple[str, str], str] = {}
    # Generation first: it is the long path (generate -> ... -> evaluate), and a driver
    # submits ready jobs in this order.
    for teacher in spec.teachers:
        for lang in spec.languages:
            collected[(teacher.name, lang)] = b.teacher_jobs(teacher, lang)
            intrinsic.append(f"intrinsic/{slug(teacher.name)}/{lang}")
    for family in spec.students:
        evaluations.append(b.base_job(family))
        for lang in spec.languages:
            evaluations.append(b.reference_jobs(family, lang))
    for teacher in spec.teachers:
        for lang in spec.languages:
            for family in spec.students:
                evaluations.append(
                    b.student_jobs(teacher, lang, family, collected[(teacher.name, lang)])
                )
    scores = b.path("scores")
    score = b.add(
        "score", "score",
        {"root": str(b.root), "out": scores, "score": spec.score,
         "metrics": [b.jobs[k].args["out"] for k in intrinsic],
         "evals": [b.jobs[k].args["out"] for k in evaluations],
         "families": [f.name for f in spec.students], "languages": list(spec.languages),
         "protocol": spec.protocol},
        [str(Path(scores) / SCORES_FILE)], soft_deps=[*intrinsic, *evaluations],
    )  # fmt: skip
    board = b.add(
        "leaderboard", "leaderboard",
        {"root": str(b.root), "scores": scores},
        [str(Path(scores) / LEADERBOARD_MD)], [score],
    )  # fmt: skip
    if spec.publish is not None:
        b.add(
            "publish", "publish",
            {"root": str(b.root), "publish": spec.publish,
             "inputs": [b.path(p) for p in ("data", "students", "scores", "metrics", "evals")]},
            [str(Path(scores) / PUBLISHED)], [board],
        )  # fmt: skip
    return list(b.jobs.values())
