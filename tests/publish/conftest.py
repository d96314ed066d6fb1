"""A small real run to publish, built and published once per session.

Building takes about 10 s, most of it two real TRL steps on the tiny model; tests then
read everything back with the real clients. Tests that change the Hub's state use
their own org.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from publish_demo import FAMILY, TEACHERS, inputs_of, score_rows, write_dataset, write_lm_eval


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory, tiny_student_dir: Path) -> dict[str, Path]:
    """data/, students/ (one real 2-step student with lm-eval output), scores/, metrics/."""
    from harness.score import write_scores
    from harness.train import TrainConfig, train_student

    root = tmp_path_factory.mktemp("demo_run")
    data = root / "data"
    for teacher, lang in [(TEACHERS[0], "de"), (TEACHERS[0], "fr"), (TEACHERS[1], "de")]:
        write_dataset(data, teacher, lang)
    families = root / "students.yaml"
    families.write_text(
        f"{FAMILY}:\n  base_model: {tiny_student_dir}\n  reference_model: org/tiny-instruct\n"
        "  mode: full\n"
    )
    result = train_student(
        TrainConfig(
            dataset=str(data / "org__tiny-teacher" / "de"), student=FAMILY,
            out=str(root / "students"), students_file=str(families), max_length=64,
            per_device_train_batch_size=2, gradient_accumulation_steps=1, max_steps=2,
            warmup_steps=0, logging_steps=1, gradient_checkpointing=False,
        )
    )  # fmt: skip
    run_dir = result.run_dir
    (run_dir / "checkpoints" / "checkpoint-1").mkdir(parents=True)  # must never be uploaded
    (run_dir / "checkpoints" / "checkpoint-1" / "optimizer.pt").write_bytes(b"state")
    write_lm_eval(run_dir / "evals", str(run_dir), 0.42)
    evals = root / "evals"
    write_lm_eval(evals, "org/tiny-base", 0.30)
    scores = root / "scores"
    write_scores(score_rows(), scores / "scores.jsonl")
    metrics = root / "metrics"
    metrics.mkdir()
    summary = [
        {"teacher": t, "language": lang, "n_rows": 12, "valid_rate": 0.75,
         "language_match_rate": 0.75, "prompt_diversity": 0.61, "response_diversity": 0.58,
         "perplexity": 12.5, "rubric_score": 3.9}
        for t, lang in [(TEACHERS[0], "de"), (TEACHERS[0], "fr"), (TEACHERS[1], "de")]
    ]  # fmt: skip
    (metrics / "summary.jsonl").write_text("".join(json.dumps(s) + "\n" for s in summary))
    return {"root": root, "data": data, "students": root / "students", "run": run_dir,
            "scores": scores, "metrics": metrics, "evals": evals}  # fmt: skip


@pytest.fixture(scope="session")
def published(demo_run: dict[str, Path], hub_token: str) -> dict[str, Any]:
    """The demo run published once into a fresh org of the local Hub."""
    from harness.publish import PublishConfig, publish

    org = f"pub-{uuid.uuid4().hex[:8]}"
    config = PublishConfig(org=org, inputs=inputs_of(demo_run), retry_delay=0.05)
    report = publish(config, token=hub_token)
    return {"org": org, "report": report, "config": config}
