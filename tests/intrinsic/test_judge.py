"""The rubric judge: strict parsing, per-language rubrics, and real lm-eval runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from harness.intrinsic.judge import (
    JudgeResult,
    judge_dataset,
    load_judge_docs,
    parse_judgement,
    parse_model_spec,
    summarize_judgements,
)
from harness.intrinsic.rubrics import judge_prompt, rubric_for
from harness.languages import GRID, get_language

PAIRS = [
    ("Wie viele Äpfel bleiben übrig, wenn ich 5 habe und 2 esse?", "Es bleiben 3 Äpfel übrig."),
    ("Was ist die Hauptstadt von Deutschland?", "Berlin ist die Hauptstadt Deutschlands."),
    ("Nenne eine Farbe.", ""),  # invalid: empty response
    ("Erkläre kurz, was Photosynthese ist.", "Pflanzen wandeln Licht in chemische Energie um."),
]


def write_dataset(folder: Path, pairs=PAIRS, language: str = "de", invalid=(2,)) -> Path:
    """A collected dataset in the SFT schema (every column of harness.schema.SFTRow)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from harness.schema import DATA_FILE, SFT_COLUMNS, sft_row

    rows = []
    for i, (prompt, response) in enumerate(pairs):
        bad = i in invalid
        rows.append(
            dict(
                sft_row(
                    prompt, response, language=language, strategy="generate",
                    teacher="org/tiny-teacher", seed_id=f"{language}-{i:04d}", valid=not bad,
                    invalid_reason="empty" if bad else None,
                    detected_language=None if bad else language,
                    raw_output=json.dumps({"prompt": prompt, "response": response}),
                    doc_id=i, temperature=0.8, top_p=0.9, max_gen_toks=256,
                    model_args="pretrained=org/tiny-teacher", run_id="2026-01-01T00-00-00",
                )
            )
        )  # fmt: skip
    assert list(rows[0]) == list(SFT_COLUMNS)
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / DATA_FILE)
    return folder / DATA_FILE


# --- strict parser -------------------------------------------------------------------

ACCEPTED = [
    ("Feedback: Fluent and correct. [RESULT] 4", 4, "Fluent and correct."),
    ("The answer is right.\n[RESULT] 5", 5, "The answer is right."),
    ("Feedback: ok [RESULT]: 3.", 3, "ok"),
    ("Grammar is weak.\nScore: 2", 2, "Grammar is weak."),
    ('{"feedback": "Gut.", "score": 5}', 5, "Gut."),
    ('```json\n{"feedback": "Gut.", "score": 1}\n```', 1, "Gut."),
    ('{"score": 3}', 3, None),
    (
        "フィードバック：自然な日本語で、丁寧です。[RESULT] 4",
        4,
        "フィードバック：自然な日本語で、丁寧です。",
    ),
    ("Feedback: الإجابة صحيحة ولغتها سليمة. [RESULT] 5", 5, "الإجابة صحيحة ولغتها سليمة."),
]

REJECTED = [
    "",
    "   \n ",
    "Feedback: good [RESULT] 0",
    "Feedback: good [RESULT] 6",
    "Feedback: good [RESULT] 4.5",
    "Feedback: good [RESULT] 45",
    "Feedback: first [RESULT] 3 second [RESULT] 4",
    "Score: 3\nFeedback: on reflection\nScore: 4",
    "Feedback: good [RESULT] 4\nI hope this helps!",
    "The response deserves a 4.",
    "4",
    "Feedback: good [RESULT] ٤",  # Arabic-Indic digit: not guessed
    "Feedback: good [RESULT] ４",  # full-width digit
    "Feedback: good [RESULT]",
    '{"feedback": "x", "score": 4.5}',
    '{"feedback": "x", "score": 4.0}',
    '{"feedback": "x", "score": "4"}',
    '{"feedback": "x", "score": true}',
    '{"feedback": "x", "score": 6}',
    '{"feedback": "x"}',
    '{"feedback": "x", "score": 4} and that is my verdict',
    '```json\n{"feedback": "x", "score": 4}\n```\nExtra words',
    '{"feedback": "x", "score": 4',  # truncated JSON: no fallback to digit hunting
    "[1, 2, 3]",
]


@pytest.mark.parametrize(("text", "score", "feedback"), ACCEPTED)
def test_parser_accepts_strict_formats(text: str, score: int, feedback: str | None) -> None:
    judgement = parse_judgement(text)
    assert judgement.score == score
    assert judgement.feedback == feedback
    assert judgement.parsed


@pytest.mark.parametrize("text", REJECTED)
def test_parser_never_guesses(text: str) -> None:
    judgement = parse_judgement(text)
    assert judgement.score is None
    assert not judgement.parsed


def test_parser_accepts_none() -> None:
    assert parse_judgement(None).score is None


def test_summary_counts_unparseable_and_excludes_them_from_the_mean() -> None:
    results = [
        JudgeResult(i, f"s{i}", "de", score, None, "") for i, score in enumerate([5, None, 3, None])
    ]
    summary = summarize_judgements(results)
    assert summary == {
        "rubric_score": 4.0,
        "judge_parse_rate": 0.5,
        "n_judged": 4,
        "n_unparseable": 2,
    }
    empty = summarize_judgements([])
    assert math.isnan(empty["rubric_score"]) and empty["n_judged"] == 0


# --- rubric and prompt ------------------------------------------------------------------


@pytest.mark.parametrize("code", GRID)
def test_rubric_names_the_language_and_its_culture(code: str) -> None:
    lang = get_language(code)
    rubric = rubric_for(code)
    assert rubric.count(lang.name) >= 5  # every criterion and score level names it
    assert lang.native_name in rubric
    for level in range(1, 6):
        assert f"Score {level}:" in rubric
    for criterion in ("proficiency", "cultural", "grammar", "helpful", "harmless"):
        assert criterion in rubric


def test_rubric_for_a_language_outside_the_grid() -> None:
    rubric = rubric_for("fr")
    assert "French" in rubric and "French-speaking communities" in rubric
    assert rubric_for("ja") != rubric_for("de")


def test_prompt_is_prometheus_absolute_grading() -> None:
    prompt = judge_prompt("  Frage?  ", "Antwort.", "de")
    assert "###The instruction to evaluate:\nFrage?\n" in prompt
    assert "###Response to evaluate:\nAntwort.\n" in prompt
    assert "[RESULT] (an integer number between 1 and 5)" in prompt
    assert prompt.endswith("###Feedback: ")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("hf:pretrained=a/b,dtype=float32", ("hf", "pretrained=a/b,dtype=float32")),
        ("vllm:pretrained=a/b", ("vllm", "pretrained=a/b")),
        ("Unbabel/M-Prometheus-14B", ("hf", "pretrained=Unbabel/M-Prometheus-14B")),
        ("/models/judge", ("hf", "pretrained=/models/judge")),
        ("pretrained=x,device=cpu", ("hf", "pretrained=x,device=cpu")),
        (
            "local-chat-completions:model=m,base_url=http://h:8000/v1",
            ("local-chat-completions", "model=m,base_url=http://h:8000/v1"),
        ),
    ],
)
def test_parse_model_spec(spec: str, expected: tuple[str, str]) -> None:
    assert parse_model_spec(spec) == expected


# --- the lm-eval task --------------------------------------------------------------------


def test_task_loads_through_task_manager(tmp_path: Path) -> None:
    """The YAML, its !function helpers and the metadata route, as lm-eval sees them."""
    from lm_eval.tasks import TaskManager

    from harness.paths import tasks_path

    data = write_dataset(tmp_path / "org__tiny-teacher" / "de")
    manager = TaskManager(
        include_path=str(tasks_path()),
        include_defaults=False,
        metadata={"judge_data": str(data.parent), "pretrained": "ignored"},
    )
    task = manager.load(["polyglot_judge"])["tasks"]["polyglot_judge"]
    docs = list(task.test_docs())
    assert [d["row_index"] for d in docs] == [0, 1, 3]  # the invalid row is not judged
    assert docs == load_judge_docs(data)
    text = task.doc_to_text(docs[0])
    assert "German" in text and PAIRS[0][1] in text
    assert task.config.generation_kwargs["do_sample"] is False
    scores = task.process_results(docs[0], ["Feedback: gut [RESULT] 4"])
    assert scores == {"judge_score": 4.0, "parse_rate": 1.0}
    bad = task.process_results(docs[0], ["vier"])
    assert math.isnan(bad["judge_score"]) and bad["parse_rate"] == 0.0


def test_tiny_judge_outputs_are_counted_unparseable(tmp_path: Path, tiny_model_dir: Path) -> None:
    """A random-init judge writes garbage: every row is judged, none parsed, none guessed."""
    data = write_dataset(tmp_path / "org__tiny-teacher" / "de")
    results = judge_dataset(
        data.parent,
        "hf",
        f"pretrained={tiny_model_dir},dtype=float32",
        device="cpu",
        batch_size=2,
        gen_kwargs={"max_gen_toks": 12},
    )
    assert [r.row_index for r in results] == [0, 1, 3]
    assert [r.seed_id for r in results] == ["de-0000", "de-0001", "de-0003"]
    assert all(r.score is None and not r.parsed for r in results)
    assert all(r.score == parse_judgement(r.raw_output).score for r in results)
    summary = summarize_judgements(results)
    assert summary["judge_parse_rate"] == 0.0 and summary["n_unparseable"] == 3
    assert math.isnan(summary["rubric_score"])


def test_limit_and_missing_dataset(tmp_path: Path, tiny_model_dir: Path) -> None:
    from harness.errors import InputNotFoundError

    data = write_dataset(tmp_path / "t" / "de")
    results = judge_dataset(
        data,
        "hf",
        f"pretrained={tiny_model_dir},dtype=float32",
        device="cpu",
        limit=1,
        gen_kwargs={"max_gen_toks": 4},
    )
    assert [r.row_index for r in results] == [0]
    with pytest.raises(InputNotFoundError, match="no collected dataset"):
        judge_dataset(tmp_path / "nowhere", "hf", "pretrained=x")


@pytest.mark.slow
def test_smollm2_judge_runs_end_to_end(tmp_path: Path, smollm2_dir: Path) -> None:
    """A real instruct model through the chat template; whatever it writes is parsed strictly."""
    data = write_dataset(tmp_path / "org__tiny-teacher" / "de")
    results = judge_dataset(
        data,
        "hf",
        f"pretrained={smollm2_dir},dtype=float32",
        device="cpu",
        limit=2,
        gen_kwargs={"max_gen_toks": 24},
    )
    assert [r.row_index for r in results] == [0, 1]
    for r in results:
        assert r.raw_output  # it generated something
        assert r.score == parse_judgement(r.raw_output).score
        assert r.score is None or 1 <= r.score <= 5


# --- resume per row --------------------------------------------------------------------


def _counting_judge(model_dir: Path, fail_on_call: int | None):
    """A real HFLM whose generate_until records each call and can die on the n-th (a kill)."""
    from lm_eval.models.huggingface import HFLM

    class CountingHFLM(HFLM):
        def generate_until(self, requests, disable_tqdm: bool = False):
            self.calls.append([r.doc["row_index"] for r in requests])
            if len(self.calls) == fail_on_call:
                raise KeyboardInterrupt  # killed mid-run, after earlier chunks finished
            return super().generate_until(requests, disable_tqdm)

    lm = CountingHFLM(pretrained=str(model_dir), dtype="float32", device="cpu", batch_size=2)
    lm.calls = []
    return lm


def test_killed_judge_rejudges_only_the_rows_not_yet_judged(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    pairs = [
        (f"Frage {i}: Wie geht es dir heute?", f"Antwort {i}: Mir geht es gut.") for i in range(7)
    ]
    data = write_dataset(tmp_path / "t" / "de", pairs, invalid=(3,))  # 6 rows to judge
    progress = tmp_path / "judge.partial.jsonl"
    kwargs = {
        "gen_kwargs": {"max_gen_toks": 4},
        "progress_file": progress,
        "progress_key": "k1",
        "chunk_size": 2,
    }
    first = _counting_judge(tiny_model_dir, fail_on_call=3)
    with pytest.raises(KeyboardInterrupt):
        judge_dataset(data, first, **kwargs)
    assert first.calls == [[0, 1], [2, 4], [5, 6]]  # the third chunk died

    second = _counting_judge(tiny_model_dir, fail_on_call=None)
    results = judge_dataset(data, second, **kwargs)
    assert second.calls == [[5, 6]]  # only the rows the killed run had not finished
    assert [r.row_index for r in results] == [0, 1, 2, 4, 5, 6]
    assert all(r.score == parse_judgement(r.raw_output).score for r in results)

    # Another key (other judge, rubric or data): the saved rows are not reused.
    third = _counting_judge(tiny_model_dir, fail_on_call=None)
    judge_dataset(data, third, **{**kwargs, "progress_key": "k2"})
    assert sorted(i for call in third.calls for i in call) == [0, 1, 2, 4, 5, 6]
