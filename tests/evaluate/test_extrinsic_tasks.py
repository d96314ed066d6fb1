"""The polyglot_eval task suites, loaded and run by lm-eval itself on fixture data.

Fixtures under tests/fixtures/benchmarks/ follow each benchmark's real Hub schema, so
these runs exercise the same templates, loaders and metrics a real evaluation uses.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import pytest

from harness.errors import ConfigError, InputNotFoundError
from harness.evaluate import mgsm, mrewardbench
from harness.evaluate.benchmarks import (
    DATA_DIR_ENV,
    extended_suite,
    group_name,
    load_benchmark,
    paper_suite,
)
from harness.languages import LANGUAGES

REPO = Path(__file__).resolve().parents[2]
TASKS = REPO / "tasks"
FIXTURES = REPO / "tests" / "fixtures" / "benchmarks"
META = {"polyglot_data_dir": str(FIXTURES)}


@pytest.fixture(scope="module")
def task_manager():
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(TASKS), metadata=META)


def _children(group) -> list[str]:
    from lm_eval.api.group import Group

    return [c.name if isinstance(c, Group) else c.task_name for c in group]


def test_every_name_resolves_and_groups_follow_the_table(task_manager) -> None:
    names = set(task_manager.all_tasks)
    for code, lang in LANGUAGES.items():
        paper = [b.task_name(code) for b in paper_suite(lang)]
        ext = [b.task_name(code) for b in extended_suite(lang)]
        assert set(ext) <= names and ext[: len(paper)] == paper
        groups = task_manager.load([group_name(code, extended=True)])["groups"]
        ext_group = groups[group_name(code, extended=True)]
        assert _children(ext_group) == [group_name(code), *ext[len(paper) :]]
        assert _children(ext_group.get(group_name(code))) == paper
        assert [t.task_name for t in ext_group.get_all_tasks()] == ext
        assert len(ext) >= 2, f"{code} needs at least two benchmarks in its extended suite"
    assert len(extended_suite(LANGUAGES["cs"])) >= 2
    assert [b.name for b in paper_suite(LANGUAGES["cs"])] == ["m_rewardbench"]


def test_every_leaf_loads_fixture_docs(task_manager) -> None:
    leaves = [b.task_name(c) for c, lang in LANGUAGES.items() for b in extended_suite(lang)]
    loaded = task_manager.load(leaves)["tasks"]
    assert set(loaded) == set(leaves)
    for name, task in loaded.items():
        docs = list(task.test_docs())
        assert len(docs) >= 8, name
        prompt = task.doc_to_text(docs[0])
        assert prompt.rstrip().endswith((":", "：")), (name, prompt)


def test_data_dir_without_files_fails_loudly(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="mgsm/de"):
        load_benchmark("mgsm", "de", data_dir=tmp_path)
    with pytest.raises(ConfigError, match="unknown benchmark"):
        load_benchmark("nope", "de", data_dir=FIXTURES)


def test_env_var_points_hooks_at_local_data(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.evaluate.benchmarks import resolve_data_dir

    monkeypatch.setenv(DATA_DIR_ENV, str(FIXTURES))
    assert resolve_data_dir({}) == FIXTURES
    assert resolve_data_dir({"polyglot_data_dir": "/elsewhere"}) == Path("/elsewhere")


def _run(model_dir: Path, tasks: list[str], protocol: str = "paper") -> dict:
    import lm_eval

    return lm_eval.simple_evaluate(
        model="hf",
        model_args=f"pretrained={model_dir},dtype=float32",
        tasks=tasks,
        limit=4,
        batch_size=8,
        device="cpu",
        metadata={**META, "polyglot_protocol": protocol},
        log_samples=True,
    )


@pytest.mark.slow
def test_paper_and_extended_groups_run_on_tiny_model(tiny_model_dir: Path) -> None:
    """German covers every benchmark kind but full Global-MMLU; Czech adds that one."""
    out = _run(tiny_model_dir, ["polyglot_eval_ext_de", "polyglot_eval_gmmlu_cs"])
    results = out["results"]
    leaves = [b.task_name("de") for b in extended_suite(LANGUAGES["de"])]
    for leaf in [*leaves, "polyglot_eval_gmmlu_cs"]:
        assert 0.0 <= results[leaf]["acc,none"] <= 1.0, leaf
    mean = sum(results[leaf]["acc,none"] for leaf in leaves) / len(leaves)
    assert math.isclose(results["polyglot_eval_ext_de"]["acc,none"], mean)
    assert "exact_match,none" in results["polyglot_eval_mgsm_de"]
    assert "acc_plain,none" in results["polyglot_eval_mrewardbench_de"]
    # MGSM: at most 50 new tokens, stopped at the first newline.
    samples = out["samples"]["polyglot_eval_mgsm_de"]
    assert len(samples) == 4
    assert all("\n" not in s["filtered_resps"][0] for s in samples)
    # M-RewardBench: weighted accuracy recomputed from the logged per-item results.
    mrb = out["samples"]["polyglot_eval_mrewardbench_de"]
    items = [tuple(s["acc"]) for s in mrb]
    expected = mrewardbench.aggregate(items)
    assert math.isclose(results["polyglot_eval_mrewardbench_de"]["acc,none"], expected)


@pytest.mark.slow
def test_mrewardbench_positions_identical_across_runs(tiny_model_dir: Path) -> None:
    first = _run(tiny_model_dir, ["polyglot_eval_mrewardbench_cs"], "corrected")
    second = _run(tiny_model_dir, ["polyglot_eval_mrewardbench_cs"], "corrected")
    key = "polyglot_eval_mrewardbench_cs"

    def golds(out: dict) -> list[tuple[str, int]]:
        return [(s["arguments"][0][0], s["target"]) for s in out["samples"][key]]

    assert golds(first) == golds(second)
    assert first["results"][key] == second["results"][key]


def test_positions_deterministic_and_both_used() -> None:
    ordered = functools.partial(mrewardbench.assign_positions, protocol="corrected")
    for code, lang in LANGUAGES.items():
        ds = load_benchmark("m_rewardbench", lang.flores, data_dir=FIXTURES, prepare=ordered)[
            "test"
        ]
        again = load_benchmark("m_rewardbench", lang.flores, data_dir=FIXTURES, prepare=ordered)[
            "test"
        ]
        assert ds["gold"] == again["gold"]
        assert set(ds["gold"]) == {0, 1}, code
        for row in ds:
            letter = "answer_b" if row["gold"] == 1 else "answer_a"
            other = "answer_a" if row["gold"] == 1 else "answer_b"
            assert row[letter] == row["chosen"] and row[other] == row["rejected"]
    flips = [mrewardbench.chosen_is_b("deu_Latn", i) for i in range(1000)]
    assert 400 < sum(flips) < 600


def test_weighted_accuracy_by_hand() -> None:
    """One subset per section, so the fixed counts cancel: the mean of section accuracies."""
    items = [
        ("alpacaeval-easy", 1.0),
        ("alpacaeval-easy", 1.0),
        ("alpacaeval-easy", 1.0),
        ("alpacaeval-easy", 0.0),  # Chat 0.75
        ("donotanswer", 0.0),
        ("donotanswer", 1.0),  # Safety 0.5
        ("hep-go", 1.0),
    ]  # Reasoning 1.0, Chat Hard absent
    assert math.isclose(
        mrewardbench.weighted_accuracy(items, divide_by_all_sections=False), (0.75 + 0.5 + 1.0) / 3
    )
    assert math.isclose(mrewardbench.weighted_accuracy(items), (0.75 + 0.5 + 1.0) / 4)
    assert math.isnan(mrewardbench.weighted_accuracy([]))
    # the plain item mean would be 5/7: the weighting matters
    assert not math.isclose(mrewardbench.weighted_accuracy(items), 5 / 7)


def test_sources_map_to_rewardbench_sections() -> None:
    assert mrewardbench.section_of("alpacaeval-length") == "Chat"
    assert mrewardbench.section_of("llmbar-adver-GPTInst") == "Chat Hard"
    assert mrewardbench.section_of("xstest-should-respond") == "Safety"
    assert mrewardbench.section_of("hep-rust") == "Reasoning"
    assert mrewardbench.section_of("Chat Hard") == "Chat Hard"
    with pytest.raises(ConfigError, match="not a RewardBench subset"):
        mrewardbench.section_of("anthropic_helpful")


def test_mrewardbench_scores_higher_loglikelihood_letter() -> None:
    doc = {"gold": 1, "section": "Safety", "source": "donotanswer", "divide_by_all_sections": True}
    assert mrewardbench.process_results(doc, [(-3.0, False), (-1.0, True)]) == {
        "acc": ("donotanswer", 1.0, True),
        "acc_plain": 1.0,
    }
    assert mrewardbench.process_results(doc, [(-0.5, True), (-1.0, False)])["acc_plain"] == 0.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (" 18", 18.0),
        ("Die Antwort ist 1.000 Euro.", 1000.0),
        ("1,000,000 people", 1_000_000.0),
        ("1.234.567", 1_234_567.0),
        ("3,5 Liter", 3.5),
        ("0,125", 0.125),
        ("3.14159", 3.14159),
        ("1.234,56 €", 1234.56),
        ("1,234.56 $", 1234.56),
        ("１２３個です", 123.0),
        ("答えは４５です。", 45.0),
        ("٤٢ تفاحة", 42.0),
        ("٣٫٥", 3.5),
        ("−7 grados", -7.0),
        ("$-5", -5.0),
        ("10 000 Kronen", 10000.0),
        ("1\u202f500", 1500.0),
        ("5 6", 5.0),
        ("18.", 18.0),
        ("Es sind 2 Äpfel und 3 Birnen", 2.0),
        ("keine Zahl", None),
        ("", None),
        (None, None),
    ],
)
def test_extract_number(text: str | None, expected: float | None) -> None:
    assert mgsm.extract_number(text) == expected


def test_mgsm_match_at_two_decimals() -> None:
    assert mgsm.is_correct(18.0, 18)
    assert mgsm.is_correct(2.004, "2")
    assert not mgsm.is_correct(2.01, 2)
    assert not mgsm.is_correct(None, 2)
    assert mgsm.process_results({"answer_number": 1200}, ["1.200 Äpfel\n"]) == {
        "acc": 1.0,
        "exact_match": 1.0,
    }
