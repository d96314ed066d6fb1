"""Builders of the demo run the publish tests push: SFT rows, lm-eval output, score rows.

A plain module (not the conftest) so test modules can import its names: two folders'
``conftest`` modules would shadow each other on ``sys.path``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TEACHERS = ("org/tiny-teacher", "org/other-teacher")
LANGS = ("de", "fr")
FAMILY = "tiny"
DATE = "2025-06-01T10-00-00.000001"
# The grid's costs.json: the first teacher measured (by its slug, as a grid may name
# it), the second not, so its rows publish null hours.
COSTS = {"org__tiny-teacher": {"gpu_h": 0.123456, "cpu_h": 1.5, "wall_h": 0.25}}
TEXT = {
    "de": ("Frage {i}: Wie viele Äpfel bleiben übrig?", "Antwort {i}: Es bleiben {i} Äpfel übrig."),
    "fr": ("Question {i} : combien de pommes reste-t-il ?", "Réponse {i} : il reste {i} pommes."),
}


def demo_row(teacher: str, lang: str, i: int) -> dict[str, Any]:
    """One collected row in the SFT schema; every fourth row invalid."""
    from harness.schema import sft_row

    strategy = ("generate", "translate", "respond")[i % 3]
    prompt, response = (t.format(i=i) for t in TEXT[lang])
    valid = i % 4 != 3
    return dict(
        sft_row(
            prompt, response, language=lang, strategy=strategy, teacher=teacher,
            category="math" if strategy == "generate" else "",
            seed_id=f"gsm8k-{i:010d}" if strategy == "translate" else f"{lang}-{i:04d}",
            valid=valid, invalid_reason=None if valid else "wrong_language",
            detected_language=lang if valid else "en",
            raw_output=json.dumps({"prompt": prompt, "response": response}),
            doc_id=i, temperature=0.8, top_p=0.95, max_gen_toks=256,
            generation_kwargs='{"do_sample": true, "temperature": 0.8}',
            model_args=f"pretrained={teacher}", run_id=DATE,
        )
    )  # fmt: skip


def write_dataset(root: Path, teacher: str, lang: str, n: int = 12) -> Path:
    from datasets import Dataset

    from harness.naming import dataset_dir
    from harness.schema import DATA_FILE, sft_features

    folder = dataset_dir(root, teacher, lang)
    folder.mkdir(parents=True, exist_ok=True)
    rows = [demo_row(teacher, lang, i) for i in range(n)]
    Dataset.from_list(rows, features=sft_features()).to_parquet(str(folder / DATA_FILE))
    return folder


def write_lm_eval(folder: Path, model: str, score: float) -> None:
    """What ``lm_eval --output_path <folder> --log_samples`` writes for one model."""
    out = folder / model.replace("/", "__")
    out.mkdir(parents=True, exist_ok=True)
    task = "polyglot_eval_mgsm_de"
    results = {
        "results": {task: {"alias": task, "acc,none": score,
                           "acc_stderr,none": 0.02}},
        "configs": {task: {"task": task}},
        "config": {"model": "hf", "model_args": f"pretrained={model},dtype=float32"},
        "model_name": model,
        "model_name_sanitized": model.replace("/", "__"),
    }  # fmt: skip
    (out / f"results_{DATE}.json").write_text(json.dumps(results, indent=2))
    sample = {"doc_id": 0, "doc": {"question": "1+1?"}, "target": "2", "resps": [["2"]],
              "filtered_resps": ["2"], "exact_match": 1.0}  # fmt: skip
    (out / f"samples_{task}_{DATE}.jsonl").write_text(json.dumps(sample) + "\n")


def score_rows() -> list[Any]:
    from harness.score import ScoreRow

    def row(teacher: str, lang: str, student: float, ill: bool = False) -> ScoreRow:
        base, ref = 0.30, (0.31 if ill else 0.50)
        gap = ref - base
        pgr = (student - base) / gap
        return ScoreRow(
            teacher=teacher, language=lang, student_family=FAMILY, student_score=student,
            base_score=base, reference_score=ref, gap=gap, pgr=pgr, z_score=0.25,
            pg_score=(pgr + 0.25) / 2, pgr_ill_conditioned=ill,
            headroom_gain=(student - base) / (1 - base), benchmarks=("mgsm",),
        )  # fmt: skip

    return [
        row(TEACHERS[0], "de", 0.42),
        row(TEACHERS[0], "fr", 0.33, ill=True),
        row(TEACHERS[1], "de", 0.36),
    ]


def inputs_of(run: dict[str, Path]) -> list[str]:
    return [str(run[k]) for k in ("data", "students", "scores", "metrics", "evals")]


def costed_scores(scores: Path, folder: Path, costs: dict[str, Any] | None = COSTS) -> Path:
    """A copy of the demo scores folder, with ``costs`` as its costs.json (None: none)."""
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(scores / "scores.jsonl", folder / "scores.jsonl")
    if costs is not None:
        (folder / "costs.json").write_text(json.dumps(costs))
    return folder
