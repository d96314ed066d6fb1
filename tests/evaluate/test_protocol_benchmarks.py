"""The extrinsic benchmarks under the paper's protocol and under its corrections.

Each protocol fact of METHOD.md ("Protocol facts from the paper's released code") that
the eval tasks carry is checked where lm-eval itself builds it: requests and per-sample
outputs of real lm-eval runs of a tiny model over the offline fixtures, and prompts as
lm-eval's TaskManager renders them. Expected values are written out by hand.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli.main import main
from harness.errors import ConfigError
from harness.evaluate import mrewardbench
from harness.evaluate.run import MANIFEST, EvalConfig, evaluate_model
from harness.score.lm_eval_results import SIDECAR

REPO = Path(__file__).resolve().parents[2]
TASKS = REPO / "tasks"
FIXTURES = REPO / "tests" / "fixtures" / "benchmarks"
MGSM_DE = "polyglot_eval_mgsm_de"
MRB_DE = "polyglot_eval_mrewardbench_de"
# RewardBench's fixed per-subset example counts (allenai/reward-bench, constants.py) of
# the subsets the first 9 German fixture items come from.
COUNTS = {
    "alpacaeval-easy": 100, "mt-bench-med": 40, "alpacaeval-hard": 95,  # Chat
    "llmbar-natural": 100, "mt-bench-hard": 37, "llmbar-adver-GPTInst": 92,  # Chat Hard
    "refusals-dangerous": 100, "xstest-should-respond": 154, "donotanswer": 136,  # Safety
}  # fmt: skip
SECTION_OF = dict.fromkeys(list(COUNTS)[:3], "Chat")
SECTION_OF |= dict.fromkeys(list(COUNTS)[3:6], "Chat Hard")
SECTION_OF |= dict.fromkeys(list(COUNTS)[6:], "Safety")


def _task(name: str, protocol: str | None = None) -> Any:
    from lm_eval.tasks import TaskManager

    metadata: dict[str, Any] = {"polyglot_data_dir": str(FIXTURES)}
    if protocol is not None:
        metadata["polyglot_protocol"] = protocol
    manager = TaskManager(include_path=str(TASKS), include_defaults=False, metadata=metadata)
    return manager.load([name])["tasks"][name]


def _simple_evaluate(model_dir: Path, task: str, limit: int, protocol: str | None) -> dict:
    """A plain lm-eval run, as a user without the evaluate stage makes it."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    metadata: dict[str, Any] = {"polyglot_data_dir": str(FIXTURES)}
    if protocol is not None:
        metadata["polyglot_protocol"] = protocol
    return lm_eval.simple_evaluate(
        model="hf",
        model_args=f"pretrained={model_dir},dtype=float32",
        tasks=[task],
        limit=limit,
        batch_size=8,
        device="cpu",
        task_manager=TaskManager(str(TASKS), include_defaults=False, metadata=metadata),
        log_samples=True,
    )


def _config(model_dir: Path, out: Path, suite: str, protocol: str, limit: int) -> EvalConfig:
    return EvalConfig(
        out=str(out), role="base", student_family="tiny", languages=["de"], suite=suite,
        model_args=f"pretrained={model_dir},dtype=float32", limit=limit, batch_size=8,
        device="cpu", data_dir=str(FIXTURES), protocol=protocol,
    )  # fmt: skip


def _saved_samples(results_dir: Path, task: str) -> list[dict[str, Any]]:
    newest = sorted(results_dir.glob(f"samples_{task}_*.jsonl"))[-1]
    return [json.loads(line) for line in newest.read_text(encoding="utf-8").splitlines()]


# ---- MGSM ------------------------------------------------------------------------------

PAPER_DECODING = {
    "until": ["\n"], "max_gen_toks": 50, "do_sample": True, "temperature": 0.6, "top_p": 0.95,
}  # fmt: skip


@pytest.mark.slow
def test_mgsm_samples_under_paper_and_decodes_greedily_under_greedy_mgsm(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    # A plain lm-eval run gets the paper's decoding from the task YAML itself.
    plain = _simple_evaluate(tiny_model_dir, MGSM_DE, limit=1, protocol=None)
    ((_, plain_kwargs),) = plain["samples"][MGSM_DE][0]["arguments"]
    assert plain_kwargs == PAPER_DECODING

    out = tmp_path / "base--tiny"
    paper = evaluate_model(_config(tiny_model_dir, out, "mgsm", "paper", 1), progress=False)
    (sample,) = _saved_samples(paper.results_dir, MGSM_DE)
    assert sample["arguments"]["gen_args_0"]["arg_1"] == PAPER_DECODING
    assert "\n" not in sample["filtered_resps"][0]
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["protocol"]["name"] == "paper"
    assert manifest["tasks"][MGSM_DE]["fingerprint"]["protocol"] == "paper"

    # Another protocol is another setting: the task runs again, greedily this time.
    greedy = evaluate_model(
        _config(tiny_model_dir, out, "mgsm", "paper+greedy_mgsm", 1), progress=False
    )
    assert (greedy.tasks_run, greedy.tasks_skipped) == ([MGSM_DE], [])
    (sample,) = _saved_samples(greedy.results_dir, MGSM_DE)
    decoding = sample["arguments"]["gen_args_0"]["arg_1"]
    assert decoding["do_sample"] is False and decoding["temperature"] == 0.0
    assert decoding["until"] == ["\n"] and decoding["max_gen_toks"] == 50
    sidecar = json.loads((greedy.results_dir / SIDECAR).read_text())
    assert sidecar["protocol"]["name"] == "paper+greedy_mgsm"
    assert sidecar["protocol"]["corrections"] == ["greedy_mgsm"]
    assert sidecar["protocol"]["deviations"] == {"limit": 1}
    again = evaluate_model(
        _config(tiny_model_dir, out, "mgsm", "paper+greedy_mgsm", 1), progress=False
    )
    assert (again.tasks_run, again.tasks_skipped) == ([], [MGSM_DE])
    # A folder never holds two protocols' results: score reads it under one.
    with pytest.raises(ConfigError, match=r"another protocol than 'paper'.*mgsm_de"):
        evaluate_model(_config(tiny_model_dir, out, "m_rewardbench", "paper", 1))


def test_mgsm_prompt_is_five_shots_in_order_then_blank_line_instruction_answer() -> None:
    task = _task(MGSM_DE)
    doc = next(iter(task.test_docs()))
    ctx = task.fewshot_context(doc, num_fewshot=5)
    apples = [("Anna", 5, 6), ("Jonas", 6, 9), ("Lena", 7, 12), ("Paul", 8, 15), ("Anna", 9, 18)]
    shots = [
        f"Frage: {who} hat {a} Äpfel und kauft {b} dazu. Wie viele Äpfel hat {who} jetzt?"
        f"\n\nAntworte nur mit der Zahl.\nAnswer: {a + b}"
        for who, a, b in apples
    ]
    query = (
        "Frage: Jonas hat 12 Äpfel und kauft 7 dazu. Wie viele Äpfel hat Jonas jetzt?"
        "\n\nAntworte nur mit der Zahl.\nAnswer:"
    )
    assert ctx == "\n\n".join([*shots, query])


def test_mgsm_instruction_line_is_native_in_every_language() -> None:
    expected = {
        "es": "Responde solo con el número.",
        "ja": "数字だけで答えてください。",
    }
    for code, instruction in expected.items():
        task = _task(f"polyglot_eval_mgsm_{code}")
        text = task.doc_to_text(next(iter(task.test_docs())))
        _question, blank, line, answer = text.split("\n")
        assert (blank, line, answer) == ("", instruction, "Answer:"), code


def test_only_mgsm_generates_so_the_protocol_decoding_reaches_mgsm_alone() -> None:
    """lm-eval applies ``gen_kwargs`` to every generate_until task of a call."""
    generative = []
    for template in [*TASKS.glob("polyglot_eval/_*_yaml"), *TASKS.glob("polyglot_heldout/_*")]:
        cfg = yaml.safe_load(template.read_text(encoding="utf-8").replace("!function ", ""))
        if cfg.get("output_type") == "generate_until":
            generative.append(template.name)
    assert generative == ["_mgsm_template_yaml"]


# ---- Global-MMLU-Lite ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "question", "answer"),
    [
        ("ar", "السؤال:", "الإجابة:"),
        ("de", "Frage:", "Antwort:"),
        ("es", "Pregunta:", "Respuesta:"),
        ("id", "Pertanyaan:", "Jawaban:"),
        ("ja", "質問：", "回答："),
    ],
)
def test_gmmlu_lite_cue_words_are_in_the_target_language(
    code: str, question: str, answer: str
) -> None:
    task = _task(f"polyglot_eval_gmmlu_lite_{code}")
    doc = next(iter(task.test_docs()))
    text = task.doc_to_text(doc)
    assert text.startswith(question) and text.endswith("\n" + answer)
    assert "Answer" not in text
    assert task.doc_to_choice(doc) == ["A", "B", "C", "D"]
    assert task.config.num_fewshot == 0 and task.OUTPUT_TYPE == "multiple_choice"


def test_gmmlu_lite_german_prompt_in_full() -> None:
    task = _task("polyglot_eval_gmmlu_lite_de")
    doc = next(iter(task.test_docs()))
    options = "".join(f"\n{letter}. {doc[f'option_{letter.lower()}']}" for letter in "ABCD")
    assert task.doc_to_text(doc) == f"Frage: {doc['question'].strip()}{options}\nAntwort:"


# ---- M-RewardBench -------------------------------------------------------------------


def _hand_weighted(samples: list[dict[str, Any]], divisor: int | None) -> float:
    """RewardBench by hand: subset accuracy, subsets weighted by COUNTS per section."""
    per_subset: dict[str, list[float]] = {}
    for s in samples:
        per_subset.setdefault(s["doc"]["source"], []).append(float(s["acc_plain"]))
    sections: dict[str, list[tuple[float, int]]] = {}
    for subset, outcomes in per_subset.items():
        sections.setdefault(SECTION_OF[subset], []).append(
            (sum(outcomes) / len(outcomes), COUNTS[subset])
        )
    scores = [
        sum(a * n for a, n in parts) / sum(n for _, n in parts) for parts in sections.values()
    ]
    return sum(scores) / (divisor or len(scores))


@pytest.mark.slow
def test_mrewardbench_weighted_accuracy_divides_by_four_under_paper_only(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """The first 9 German items cover Chat, Chat Hard and Safety: Reasoning is absent."""
    paper = _simple_evaluate(tiny_model_dir, MRB_DE, limit=9, protocol=None)
    samples = paper["samples"][MRB_DE]
    assert {SECTION_OF[s["doc"]["source"]] for s in samples} == {"Chat", "Chat Hard", "Safety"}
    by_hand = _hand_weighted(samples, 4)
    assert math.isclose(paper["results"][MRB_DE]["acc,none"], by_hand)
    assert by_hand == 0 or not math.isclose(by_hand, _hand_weighted(samples, 3))

    config = _config(
        tiny_model_dir, tmp_path / "out", "m_rewardbench", "paper+present_sections_rewardbench", 9
    )
    corrected = evaluate_model(config, progress=False)
    saved = _saved_samples(corrected.results_dir, MRB_DE)
    (results_file,) = corrected.results_dir.glob("results_*.json")
    acc = json.loads(results_file.read_text())["results"][MRB_DE]["acc,none"]
    assert math.isclose(acc, _hand_weighted(saved, None))
    assert all(s["doc"]["divide_by_all_sections"] is False for s in saved)


def test_weighted_accuracy_by_hand_with_fixed_counts() -> None:
    items = [
        ("alpacaeval-easy", 1.0),  # Chat: easy 1/1, mt-bench-med 0/2
        ("mt-bench-med", 0.0),
        ("mt-bench-med", 0.0),
        ("refusals-dangerous", 0.0),  # Safety: dangerous 0/1, donotanswer 1/1
        ("donotanswer", 1.0),
    ]  # Chat Hard and Reasoning absent
    chat = (1.0 * 100 + 0.0 * 40) / (100 + 40)
    safety = (0.0 * 100 + 1.0 * 136) / (100 + 136)
    assert math.isclose(mrewardbench.weighted_accuracy(items), (chat + safety) / 4)
    assert math.isclose(
        mrewardbench.weighted_accuracy(items, divide_by_all_sections=False), (chat + safety) / 2
    )
    # the item mean per section would give Chat 1/3 and Safety 1/2: the counts matter
    assert not math.isclose(mrewardbench.weighted_accuracy(items), (1 / 3 + 1 / 2) / 4)
    triples = [(source, correct, False) for source, correct in items]
    assert math.isclose(mrewardbench.aggregate(triples), (chat + safety) / 2)
    assert math.isnan(mrewardbench.weighted_accuracy([]))


@pytest.mark.parametrize(
    ("code", "name"),
    [("ar", "Arabic"), ("cs", "Czech"), ("de", "German"), ("es", "Spanish"),
     ("id", "Indonesian"), ("ja", "Japanese")],
)  # fmt: skip
def test_mrewardbench_prompt_names_the_language(code: str, name: str) -> None:
    task = _task(f"polyglot_eval_mrewardbench_{code}")
    text = task.doc_to_text(next(iter(task.test_docs())))
    assert f"written in {name}." in text


def _positions(out: dict, task: str) -> list[tuple[str, int, str]]:
    return [
        (s["arguments"][0][0], s["target"], s["doc"]["chosen_position"])
        for s in out["samples"][task]
    ]


@pytest.mark.slow
def test_ordered_rewardbench_gives_identical_positions_in_two_runs(tiny_model_dir: Path) -> None:
    task = "polyglot_eval_mrewardbench_cs"
    first = _simple_evaluate(tiny_model_dir, task, limit=6, protocol="paper+ordered_rewardbench")
    second = _simple_evaluate(tiny_model_dir, task, limit=6, protocol="corrected")
    assert _positions(first, task) == _positions(second, task)
    assert first["results"][task]["acc_plain,none"] == second["results"][task]["acc_plain,none"]


@pytest.mark.slow
def test_paper_records_the_drawn_position_in_every_doc(tiny_model_dir: Path) -> None:
    out = _simple_evaluate(tiny_model_dir, MRB_DE, limit=6, protocol="paper")
    for sample in out["samples"][MRB_DE]:
        doc = sample["doc"]
        position = doc["chosen_position"]
        assert sample["target"] == "AB".index(position)
        prompt = sample["arguments"][0][0]
        block = prompt.split(f"[The Start of Assistant {position}'s Answer]\n")[1]
        assert block.startswith(doc["chosen"].strip())
        assert doc["divide_by_all_sections"] is True


def _rows(n: int) -> Any:
    from datasets import Dataset

    return Dataset.from_list(
        [
            {"prompt": f"q{i}", "chosen": f"good {i}", "rejected": f"bad {i}", "source": "hep-go"}
            for i in range(n)
        ]
    )


def test_paper_shuffle_is_unseeded_and_the_correction_is_a_function_of_the_item() -> None:
    rows = _rows(256)  # two unseeded draws agree with probability 2**-256
    first = mrewardbench.assign_positions(rows, "deu_Latn")["chosen_position"]
    second = mrewardbench.assign_positions(rows, "deu_Latn", protocol="paper")["chosen_position"]
    assert first != second and set(first) == {"A", "B"}
    ordered = [
        mrewardbench.assign_positions(rows, "deu_Latn", protocol="paper+ordered_rewardbench")
        for _ in range(2)
    ]
    assert ordered[0]["chosen_position"] == ordered[1]["chosen_position"]
    assert 100 < ordered[0]["chosen_position"].count("B") < 156


# ---- the evaluate stage's protocol setting --------------------------------------------


def test_eval_config_stores_the_canonical_protocol_and_names_a_bad_one() -> None:
    base = {"out": "o", "role": "base", "student_family": "f", "languages": ["de"]}
    assert EvalConfig(**base).protocol == "paper"
    assert EvalConfig(**base, protocol="paper+greedy_mgsm").protocol == "paper+greedy_mgsm"
    unordered = "paper+ordered_rewardbench+greedy_mgsm"
    assert EvalConfig(**base, protocol=unordered).protocol == (
        "paper+greedy_mgsm+ordered_rewardbench"
    )
    assert EvalConfig(**base, protocol=" corrected ").protocol == "corrected"
    with pytest.raises(ConfigError, match=r"field 'protocol'.*greedy_msgm"):
        EvalConfig(**base, protocol="paper+greedy_msgm")


def test_cli_protocol_flag_reaches_the_config(capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli.evaluate import build_configs
    from harness.cli.main import make_parser

    args = make_parser().parse_args(
        ["evaluate", "--role", "base", "--family", "f", "--languages", "de", "--protocol",
         "corrected", "--model-args", "pretrained=x"]
    )  # fmt: skip
    (config,) = build_configs(args)
    assert config.protocol == "corrected"
    argv = ["evaluate", "--role", "base", "--family", "f", "--languages", "de"]
    assert main([*argv, "--protocol", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown protocol 'nope'" in err
