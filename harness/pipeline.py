"""The whole chain on the embedded default, offline: generate -> intrinsic -> train ->
evaluate -> score -> leaderboard.

Two teachers write data for each language: SmolLM2-135M-Instruct (a real, weak
multilingual teacher) and a random-init tiny Llama (a deliberately bad one). A tiny
student is trained on each teacher's valid rows; the reference student is the same base
trained on gold seed data, the base is the untrained student. Students are evaluated with
lm-eval on held-out target-language text (:mod:`harness.evaluate.heldout` says why not
the accuracy suites on two CPU cores), then scored exactly as a GPU run is.

A teacher whose data has no valid row yields no student: nothing can be trained, so its
student *is* the base (PGR 0), and its intrinsic metrics take the run's worst values
(see :func:`harness.score.pgscore.fit_z_scores`). Every step skips work already on disk,
so an interrupted pipeline resumes.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import EmptyDataError
from harness.evaluate.heldout import BENCHMARK, score_from_bits_per_byte, split_seed_rows, task_name
from harness.languages import parse_languages
from harness.naming import dataset_dir, slug

logger = logging.getLogger(__name__)

SMOLLM2 = "SmolLM2-135M-Instruct"
BAD_TEACHER = "random-tiny-llama"
FAMILY = "tiny-demo"


@dataclass
class PipelineConfig:
    """Sizes of the offline pipeline; defaults fit 2 CPU cores in minutes."""

    out: Path = field(default=Path("pipeline-out"), metadata={"help": "output folder"})
    languages: list[str] | None = field(default=None, metadata={"help": "ISO codes; None: grid"})
    limit: int = field(default=2, metadata={"help": "documents per generation task"})
    max_gen_toks: int = field(default=128, metadata={"help": "teacher generation budget"})
    batch_size: int = field(default=8, metadata={"help": "lm-eval batch size"})
    train_steps: int = field(default=30, metadata={"help": "optimizer steps per student"})
    learning_rate: float = field(default=1e-3, metadata={"help": "tiny students need a high lr"})


@dataclass
class PipelineResult:
    scores: list[Any]
    leaderboard: str
    seconds: dict[str, float]
    paths: dict[str, Path]


def _timed(seconds: dict[str, float], name: str, start: float) -> None:
    seconds[name] = round(time.perf_counter() - start, 1)
    logger.info("pipeline: %s done in %.0f s", name, seconds[name])


def _models(out: Path) -> dict[str, Path]:
    from harness.models.smollm2 import smollm2_path
    from harness.models.tiny import build_tiny_model

    return {
        SMOLLM2: smollm2_path(),
        BAD_TEACHER: build_tiny_model(out / "models" / "bad-teacher", seed=7),
        FAMILY: build_tiny_model(out / "models" / "student-base", seed=1),
    }


def _generate(config: PipelineConfig, models: dict[str, Path], codes: list[str]) -> Path:
    from harness.collect import collect
    from harness.generate.runner import GenerationConfig, run_generation

    data = config.out / "data"
    for teacher in (SMOLLM2, BAD_TEACHER):
        runs = config.out / "runs" / slug(teacher)
        gen = GenerationConfig(
            model="hf",
            model_args=f"pretrained={models[teacher]},dtype=float32",
            languages=codes,
            limit=config.limit,
            max_gen_toks=config.max_gen_toks,
            batch_size=config.batch_size,
            device="cpu",
        )
        run_generation(gen, runs)  # skips finished chunks on a rerun
        collect(runs, data, teacher=teacher)
    return data


def _reference_data(out: Path, codes: list[str]) -> dict[str, Path]:
    """Gold seed pairs (the odd half) as collected datasets, to train the reference."""
    from datasets import Dataset

    from harness.schema import DATA_FILE, sft_features, sft_row
    from harness.seeds import load_seed_rows

    paths = {}
    for code in codes:
        folder = dataset_dir(out / "reference-data", "gold-seeds", code)
        if not (folder / DATA_FILE).is_file():
            train, _ = split_seed_rows(load_seed_rows(code))
            rows = [
                sft_row(
                    r["prompt"], r["response"], language=code, strategy="respond",
                    teacher="gold-seeds", seed_id=r["seed_id"], category=r.get("category", ""),
                    doc_id=i, source_prompt=r["prompt"], run_id="bundled",
                )
                for i, r in enumerate(train)
                if (r.get("response") or "").strip()
            ]  # fmt: skip
            folder.mkdir(parents=True, exist_ok=True)
            Dataset.from_list(rows, features=sft_features()).to_parquet(str(folder / DATA_FILE))
        paths[code] = folder
    return paths


def _students_file(out: Path, base: Path) -> Path:
    """The demo's student family, declared like the paper's (data, not code)."""
    path = out / "students.yaml"
    path.write_text(
        f"{FAMILY}:\n  base_model: {base.resolve()}\n"
        f"  reference_model: {FAMILY} trained on gold seed pairs (students/reference)\n"
        "  mode: full\n  description: random-init tiny Llama, the offline pipeline's student\n",
        encoding="utf-8",
    )
    return path


def _train(config: PipelineConfig, dataset: Path, out: Path) -> Path | None:
    """Train one student; ``None`` when the dataset has no valid row to train on."""
    from harness.train import TrainConfig, train_student

    train_config = TrainConfig(
        dataset=str(dataset),
        student=FAMILY,
        students_file=str(config.out / "students.yaml"),
        out=str(out),
        lora=False,
        max_steps=config.train_steps,
        learning_rate=config.learning_rate,
        max_length=512,
        per_device_train_batch_size=4,
        gradient_accumulation_steps=1,
        optim="adamw_torch",
        warmup_steps=2,
        save_steps=10,
        logging_steps=10,
    )
    try:
        return train_student(train_config).run_dir
    except EmptyDataError as exc:
        logger.warning("no student for %s: %s", dataset, exc)
        return None


def _evaluate(
    models: dict[str, Path], languages: dict[str, list[str]], evals_dir: Path
) -> dict[tuple[str, str], float]:
    """Held-out score of each model on its languages.

    lm-eval's results and samples are saved under ``evals_dir`` in its CLI layout (what
    ``publish`` pushes); the scores are also cached in ``evals_dir/heldout_scores.json``
    so a rerun evaluates only what is missing.
    """
    from lm_eval import simple_evaluate
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    from harness.paths import tasks_path

    evals_dir.mkdir(parents=True, exist_ok=True)
    cache = evals_dir / "heldout_scores.json"
    done: dict[str, float] = json.loads(cache.read_text()) if cache.is_file() else {}
    manager = None
    for name, path in models.items():
        todo = [c for c in languages[name] if f"{name}|{c}" not in done]
        if not todo:
            continue
        manager = manager or TaskManager(include_path=str(tasks_path()))
        tracker = EvaluationTracker(output_path=str(evals_dir))
        results = simple_evaluate(
            model="hf",
            model_args=f"pretrained={path},dtype=float32",
            tasks=[task_name(c) for c in todo],
            batch_size=8,
            device="cpu",
            task_manager=manager,
            log_samples=True,
            evaluation_tracker=tracker,
        )
        samples = results.pop("samples")
        tracker.save_results_aggregated(results=results, samples=samples)
        for task in results["configs"]:
            tracker.save_results_samples(task_name=task, samples=samples[task])
        for code in todo:
            bpb = results["results"][task_name(code)]["bits_per_byte,none"]
            done[f"{name}|{code}"] = score_from_bits_per_byte(bpb)
        cache.write_text(json.dumps(done, indent=1))
    return {tuple(k.split("|")): v for k, v in done.items()}  # type: ignore[misc]


def run_pipeline(config: PipelineConfig) -> PipelineResult:
    """Run every stage; returns the scores and the rendered leaderboard."""
    from harness.intrinsic.run import compute_intrinsic
    from harness.score import ExtrinsicRow, read_intrinsic, score_run, write_scores
    from harness.score.tables import leaderboard

    seconds: dict[str, float] = {}
    out = config.out
    out.mkdir(parents=True, exist_ok=True)
    codes = [lang.code for lang in parse_languages(config.languages)]

    start = time.perf_counter()
    models = _models(out)
    data = _generate(config, models, codes)
    _timed(seconds, "generate", start)

    start = time.perf_counter()
    metrics = out / "metrics"
    compute_intrinsic(
        data, metrics,
        metrics=("validity", "lengths", "diversity", "lexical", "duplicates", "fluency"),
        reference_lm=str(models[SMOLLM2]), tokenizer=str(models[FAMILY]), device="cpu",
    )  # fmt: skip
    _timed(seconds, "intrinsic", start)

    start = time.perf_counter()
    students_dir = out / "students"
    _students_file(out, models[FAMILY])
    to_eval: dict[str, Path] = {"base": models[FAMILY]}
    eval_langs: dict[str, list[str]] = {"base": codes}
    for code, folder in _reference_data(out, codes).items():
        ref = _train(config, folder, students_dir / "reference")
        if ref is None:
            raise EmptyDataError(f"no gold seed data to train the {code} reference on")
        to_eval[f"reference:{code}"], eval_langs[f"reference:{code}"] = ref, [code]
    untrained: list[tuple[str, str]] = []
    for teacher in (SMOLLM2, BAD_TEACHER):
        for code in codes:
            run = _train(config, dataset_dir(data, teacher, code), students_dir)
            if run is None:
                untrained.append((teacher, code))
            else:
                to_eval[f"student:{teacher}:{code}"] = run
                eval_langs[f"student:{teacher}:{code}"] = [code]
    _timed(seconds, "train", start)

    start = time.perf_counter()
    evals_dir = out / "evals"
    evals = _evaluate(to_eval, eval_langs, evals_dir)
    rows = [
        ExtrinsicRow(role="base", student_family=FAMILY, teacher=None, target_language=None,
                     benchmark=BENCHMARK, language=c, score=evals[("base", c)], stderr=None)
        for c in codes
    ] + [
        ExtrinsicRow(role="reference", student_family=FAMILY, teacher=None, target_language=None,
                     benchmark=BENCHMARK, language=c, score=evals[(f"reference:{c}", c)], stderr=None)
        for c in codes
    ]  # fmt: skip
    for teacher in (SMOLLM2, BAD_TEACHER):
        for code in codes:
            # No valid data, no training: the student is the base model itself.
            key = (
                ("base", code)
                if (teacher, code) in untrained
                else (f"student:{teacher}:{code}", code)
            )
            rows.append(
                ExtrinsicRow(role="student", student_family=FAMILY, teacher=teacher,
                             target_language=code, benchmark=BENCHMARK, language=code,
                             score=evals[key], stderr=None)
            )  # fmt: skip
    extrinsic = out / "extrinsic.jsonl"
    with extrinsic.open("w", encoding="utf-8") as handle:
        for row in rows:
            record = {k: v for k, v in asdict(row).items() if k != "source"}
            handle.write(json.dumps(record) + "\n")
    _timed(seconds, "evaluate", start)

    scores = score_run(rows, read_intrinsic(metrics))
    scores_path = write_scores(scores, out / "scores" / "scores.jsonl")
    table = leaderboard(scores, tablefmt="simple", values=("pg_score",))
    (out / "scores" / "leaderboard.md").write_text(
        leaderboard(scores, tablefmt="github", values=("pg_score",)), encoding="utf-8"
    )
    paths = {"data": data, "metrics": metrics, "students": students_dir,
             "evals": evals_dir, "extrinsic": extrinsic, "scores": scores_path}  # fmt: skip
    return PipelineResult(scores=scores, leaderboard=table, seconds=seconds, paths=paths)
