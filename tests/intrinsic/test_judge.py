"""The rubric judge: strict parsing, per-language rubrics, and real lm-eval runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from harness.intrinsic.judge import (
    JUDGE_MAX_GEN_TOKS,
    JudgeResult,
    judge_dataset,
    load_judge_docs,
    parse_judgement,
    parse_model_spec,
    summarize_judgements,
)
from harness.intrinsic.rubrics import (
    JUDGE_SCHEMA,
    JUDGE_SYSTEM_PROMPT,
    judge_prompt,
    rubric_for,
    rubric_parts,
)
from harness.languages import GRID, get_language
from harness.protocol import SCHEMA_DOC_KEY

EXCLUDE = "paper+exclude_unparseable_judgements"

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


def _results(scores) -> list[JudgeResult]:
    return [JudgeResult(i, f"s{i}", "de", score, None, "") for i, score in enumerate(scores)]


def test_paper_scores_an_unparseable_judgement_1_and_keeps_it_in_the_mean() -> None:
    summary = summarize_judgements(_results([5, None, 3, None]))  # the default: paper
    assert summary == {
        "rubric_score": (5 + 1 + 3 + 1) / 4,
        "judge_parse_rate": 0.5,
        "n_judged": 4,
        "n_unparseable": 2,
    }
    assert summarize_judgements(_results([None, None]), "paper")["rubric_score"] == 1.0


def test_corrected_judge_counts_unparseable_and_excludes_them_from_the_mean() -> None:
    for protocol in (EXCLUDE, "corrected"):
        summary = summarize_judgements(_results([5, None, 3, None]), protocol)
        assert summary == {
            "rubric_score": 4.0,
            "judge_parse_rate": 0.5,
            "n_judged": 4,
            "n_unparseable": 2,
        }
        assert math.isnan(summarize_judgements(_results([None]), protocol)["rubric_score"])
    empty = summarize_judgements([])
    assert math.isnan(empty["rubric_score"]) and empty["n_judged"] == 0


# --- rubric and prompt ------------------------------------------------------------------


@pytest.mark.parametrize("code", GRID)
def test_rubric_is_one_criterion_with_five_descriptors_for_the_language(code: str) -> None:
    lang = get_language(code)
    parts = rubric_parts(code)
    assert len(parts.descriptors) == 5
    assert parts.criterion.count("?") == 1  # one criterion statement (a single question)
    for aspect in ("proficiency", "cultural", "grammar", "helpful", "harmless"):
        assert aspect in parts.criterion
    assert lang.native_name in parts.criterion
    assert all(lang.name in d for d in parts.descriptors)  # every score level names it
    rubric = rubric_for(code)
    lines = rubric.splitlines()
    assert lines[0] == parts.criterion
    assert lines[1:] == [f"Score {n}: {d}" for n, d in enumerate(parts.descriptors, start=1)]


def test_rubric_for_a_language_outside_the_grid() -> None:
    rubric = rubric_for("fr")
    assert "French" in rubric and "French-speaking communities" in rubric
    assert rubric_for("ja") != rubric_for("de")


def test_paper_judge_prompt_asks_for_json_with_the_score_before_the_feedback() -> None:
    prompt = judge_prompt("  Frage?  ", "Antwort.", "de")
    assert "Instruction:\nFrage?\n" in prompt and "Response:\nAntwort.\n" in prompt
    assert rubric_for("de") in prompt
    assert prompt.index('"score"') < prompt.index('"feedback"')
    assert "<|" not in prompt and "system" not in prompt.lower()  # raw text, no template
    # The schema a schema-guided backend enforces: the score first, both required.
    assert list(JUDGE_SCHEMA["properties"]) == ["score", "feedback"]
    assert JUDGE_SCHEMA["properties"]["score"]["enum"] == [1, 2, 3, 4, 5]
    assert JUDGE_SCHEMA["required"] == ["score", "feedback"]
    # What a schema-guided judge writes parses.
    assert parse_judgement('{"score": 2, "feedback": "Holprig."}').score == 2


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
    assert all(d[SCHEMA_DOC_KEY] == JUDGE_SCHEMA for d in docs)  # for schema-guided backends
    assert list(docs[0][SCHEMA_DOC_KEY]["properties"]) == ["score", "feedback"]
    text = task.doc_to_text(docs[0])
    assert text == judge_prompt(PAIRS[0][0], PAIRS[0][1], "de")
    settings = task.config.generation_kwargs
    assert settings["do_sample"] is True and settings["max_gen_toks"] == JUDGE_MAX_GEN_TOKS
    scores = task.process_results(docs[0], ['{"score": 4, "feedback": "gut"}'])
    assert scores == {"judge_score": 4.0, "parse_rate": 1.0}
    bad = task.process_results(docs[0], ["vier"])  # paper (no protocol in metadata): 1
    assert bad == {"judge_score": 1.0, "parse_rate": 0.0}


def test_task_under_the_correction_leaves_unparseable_out(tmp_path: Path) -> None:
    from lm_eval.tasks import TaskManager

    from harness.paths import tasks_path

    data = write_dataset(tmp_path / "org__tiny-teacher" / "de")
    manager = TaskManager(
        include_path=str(tasks_path()),
        include_defaults=False,
        metadata={"judge_data": str(data.parent), "protocol": "corrected"},
    )
    task = manager.load(["polyglot_judge"])["tasks"]["polyglot_judge"]
    doc = next(iter(task.test_docs()))
    bad = task.process_results(doc, ["vier"])
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
    summary = summarize_judgements(results)  # paper: each counts as a 1
    assert summary["judge_parse_rate"] == 0.0 and summary["n_unparseable"] == 3
    assert summary["rubric_score"] == 1.0
    assert math.isnan(summarize_judgements(results, EXCLUDE)["rubric_score"])


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
    """A real instruct model on the raw prompt; whatever it writes is parsed strictly."""
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


# --- what reaches the judge model --------------------------------------------------------


def _recording_judge(model_dir: Path, outputs: dict[int, str]):
    """A real HFLM that records each request and answers with a set judgement per row.

    Generating 2,048 tokens with a random-init model on a CPU would take minutes and
    write nothing parseable; the request (prompt and sampling settings) is what we check.
    """
    from lm_eval.models.huggingface import HFLM

    class RecordingHFLM(HFLM):
        def generate_until(self, requests, disable_tqdm: bool = False):
            self.requests.extend(requests)
            return [outputs[r.doc["row_index"]] for r in requests]

    lm = RecordingHFLM(pretrained=str(model_dir), dtype="float32", device="cpu", batch_size=2)
    lm.requests = []
    return lm


JUDGED = {0: '{"score": 4, "feedback": "Gut."}', 1: "Sehr gut, ich gebe vier.", 3: '{"score": 2}'}


def test_paper_judge_prompt_reaches_the_model_raw_with_default_sampling(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    data = write_dataset(tmp_path / "t" / "de")
    lm = _recording_judge(tiny_model_dir, JUDGED)
    results = judge_dataset(data, lm)
    contexts = [r.args[0] for r in lm.requests]
    assert contexts == [judge_prompt(PAIRS[i][0], PAIRS[i][1], "de") for i in (0, 1, 3)]
    assert not any("<|im_start|>" in c or JUDGE_SYSTEM_PROMPT in c for c in contexts)
    settings = lm.requests[0].args[1]
    assert settings["do_sample"] is True and settings["temperature"] == 1.0  # tiny: no config
    assert settings["max_gen_toks"] == JUDGE_MAX_GEN_TOKS
    assert [r.score for r in results] == [4, None, 2]
    assert summarize_judgements(results)["rubric_score"] == (4 + 1 + 2) / 3  # paper
    assert summarize_judgements(results, EXCLUDE)["rubric_score"] == 3.0
    assert summarize_judgements(results, EXCLUDE)["n_unparseable"] == 1


def test_judge_chat_template_option_adds_the_template_and_system_prompt(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    data = write_dataset(tmp_path / "t" / "de")
    lm = _recording_judge(tiny_model_dir, JUDGED)
    judge_dataset(data, lm, apply_chat_template=True, rows=[3])
    [request] = lm.requests
    context = request.args[0]
    assert context.startswith(f"<|im_start|>system\n{JUDGE_SYSTEM_PROMPT}<|im_end|>")
    assert judge_prompt(PAIRS[3][0], PAIRS[3][1], "de").strip() in context


def test_judge_uses_the_models_own_temperature(tmp_path: Path, tiny_model_dir: Path) -> None:
    data = write_dataset(tmp_path / "t" / "de")
    lm = _recording_judge(tiny_model_dir, JUDGED)
    lm.model.generation_config.temperature = 0.7
    judge_dataset(data, lm, rows=[0])
    assert lm.requests[0].args[1]["temperature"] == 0.7


def test_reused_judgements_are_rescored_without_the_model(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "t" / "de")

    def no_model():
        raise AssertionError("every row was reused: the judge must not load")

    results = judge_dataset(data, no_model, reuse=JUDGED, rows=[0, 1, 3])
    assert [(r.row_index, r.score) for r in results] == [(0, 4), (1, None), (3, 2)]
