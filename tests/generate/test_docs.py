"""Task documents: the paper's prompt structure, deterministic, traceable, steerable
through lm-eval metadata."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.errors import ConfigError, EmptyDataError, InputNotFoundError, UnknownLanguageError
from harness.generate.docs import build_docs
from harness.generate.prompts import CATEGORIES
from harness.protocol import SCHEMA_DOC_KEY


def test_generate_docs_are_deterministic_and_carry_seed_ids() -> None:
    docs = build_docs("de", "generate", n_docs=12)
    assert all(len(d["seed_ids"]) == 3 for d in docs)
    assert docs[0]["seed_id"] == "de-gen-1234-00000"  # the draw's seed: two draws never collide
    assert "German (Deutsch)" in docs[0]["system_prompt"]
    assert '{"prompt":' in docs[0]["user_prompt"]
    assert build_docs("de", "generate", n_docs=12) == docs  # deterministic
    assert build_docs("de", "generate", n_docs=12, seed=7) != docs


def _without_examples(doc: dict) -> str:
    """The generate instruction with its three example blocks cut out."""
    from harness.seeds import load_seed_rows

    seeds = {r["seed_id"]: r for r in load_seed_rows(doc["language"])}
    text = doc["user_prompt"]
    for seed_id in doc["seed_ids"]:
        block = f"Prompt: {seeds[seed_id]['prompt']}\nResponse: {seeds[seed_id]['response']}"
        assert block in text
        text = text.replace(block, "")
    return text


def test_generate_offers_all_ten_categories_and_fixes_none() -> None:
    """Protocol fact: the teacher picks one of 10 categories at random and does not name it."""
    docs = build_docs("de", "generate", n_docs=20)
    assert len(CATEGORIES) == 10
    for doc in docs:
        assert doc["category"] == ""  # not chosen by us
        text = doc["user_prompt"]
        for description in CATEGORIES.values():  # each offered once, as a numbered item
            assert text.count(description) == 1
            assert re.search(rf"^\d+\. {re.escape(description)}$", text, re.MULTILINE)
        assert "at random" in text and "do not say which" in text
    # With the examples cut out, every document asks the same: no category is singled out.
    assert len({_without_examples(d) for d in docs}) == 1


def test_generate_shows_three_seed_examples_as_prompt_response_blocks() -> None:
    """Protocol fact: 3 seed examples as "Prompt:" / "Response:" blocks, then the ask for
    a very hard task that differs from them."""
    from harness.seeds import load_seed_rows

    seeds = {r["seed_id"]: r for r in load_seed_rows("es")}
    for doc in build_docs("es", "generate", n_docs=5):
        text = doc["user_prompt"]
        assert len(re.findall(r"^Prompt: ", text, re.MULTILINE)) == 3
        assert len(re.findall(r"^Response: ", text, re.MULTILINE)) == 3
        for seed_id in doc["seed_ids"]:
            seed = seeds[seed_id]
            assert f"Prompt: {seed['prompt']}\nResponse: {seed['response']}" in text
        assert "genuinely difficult" in text and "differ clearly from the examples" in text


def test_translate_asks_for_a_plain_translation_and_an_answer() -> None:
    """Protocol fact: translate the English seed and answer it, with no localisation."""
    for doc in build_docs("cs", "translate", n_docs=10):
        instruction = doc["user_prompt"].replace(doc["source_prompt"], "").lower()
        assert "translate" in instruction and "czech" in instruction and "answer" in instruction
        for localising in ("adapt", "cultur", "local", "units", "names", "natural"):
            assert localising not in instruction, localising


def test_respond_wraps_the_prompt_in_an_english_instruction_naming_the_language() -> None:
    """Protocol fact: respond's prompt goes inside a short English answer-in-X request."""
    from harness.generate.langid import detect_language

    for doc in build_docs("ja", "respond", n_docs=5):
        text, seed = doc["user_prompt"], doc["source_prompt"]
        assert text != seed and text.endswith(seed)
        wrapper = text[: -len(seed)]
        assert "Japanese" in wrapper and len(wrapper) < 80
        assert detect_language(wrapper) == "en"


def test_schema_key_only_on_generate_and_translate_docs() -> None:
    """Pair outputs ask for schema-guided decoding; respond's free answer does not."""
    pair = {
        "type": "object",
        "properties": {"prompt": {"type": "string"}, "response": {"type": "string"}},
        "required": ["prompt", "response"],
        "additionalProperties": False,
    }
    for strategy in ("generate", "translate"):
        for doc in build_docs("de", strategy, n_docs=3):
            assert doc[SCHEMA_DOC_KEY] == pair
    assert all(SCHEMA_DOC_KEY not in doc for doc in build_docs("de", "respond", n_docs=3))
    first, second = build_docs("de", "generate", n_docs=2)
    first[SCHEMA_DOC_KEY]["required"].append("x")  # each doc owns its copy
    assert second[SCHEMA_DOC_KEY]["required"] == ["prompt", "response"]


def test_schema_key_survives_lm_eval_loading() -> None:
    """lm-eval stores docs in Arrow: the schema must come back as the same dict."""
    from lm_eval.tasks import TaskManager

    from harness.paths import tasks_path
    from harness.protocol import PAIR_SCHEMA

    manager = TaskManager(include_path=str(tasks_path()), include_defaults=False)
    tasks = manager.load(["polyglot_translate_de", "polyglot_respond_de"])["tasks"]
    translate = list(tasks["polyglot_translate_de"].eval_docs)
    assert translate and all(d[SCHEMA_DOC_KEY] == PAIR_SCHEMA for d in translate)
    assert SCHEMA_DOC_KEY not in tasks["polyglot_respond_de"].eval_docs.column_names


def test_generation_template_samples_as_the_paper() -> None:
    """The template's sampling and cap come from harness.protocol (staleness of every
    generated file: tests/test_taskgen.py)."""
    from harness.paths import tasks_path
    from harness.taskgen import GENERATION_TEMPLATE

    template = (tasks_path() / "polyglot" / GENERATION_TEMPLATE).read_text(encoding="utf-8")
    for line in ("do_sample: true", "temperature: 0.8", "top_p: 0.9", "max_gen_toks: 4096"):
        assert f"\n  {line}\n" in template  # the paper's sampling; the serving context as cap


def test_translate_uses_english_sources_and_respond_the_target_prompts() -> None:
    translate = build_docs("ja", "translate")
    assert len(translate) == 30 and all(d["seed_id"].startswith("en-") for d in translate)
    assert translate[0]["source_prompt"] in translate[0]["user_prompt"]
    respond = build_docs("ja", "respond", n_docs=5)
    assert len(respond) == 5 and all(d["seed_id"].startswith("ja-") for d in respond)
    assert respond[0]["source_prompt"] in respond[0]["user_prompt"]


def test_any_lingua_language_with_seeds_works(tmp_path: Path) -> None:
    rows = [
        {"seed_id": f"fr-{i}", "language": "fr", "prompt": f"Question {i} ?", "response": "Oui."}
        for i in range(4)
    ]
    (tmp_path / "fr.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    docs = build_docs("fr", "generate", seeds=str(tmp_path), n_docs=2)
    assert "French" in docs[0]["system_prompt"]


def test_bad_input_is_named() -> None:
    with pytest.raises(UnknownLanguageError, match="unknown language code 'xx'"):
        build_docs("xx", "respond")
    with pytest.raises(ConfigError, match="n_docs"):
        build_docs("de", "respond", n_docs=0)
    with pytest.raises(ValueError):
        build_docs("de", "summarise")
    with pytest.raises((InputNotFoundError, EmptyDataError)):
        build_docs("fr", "respond")  # no bundled French seeds


def test_lm_eval_metadata_steers_the_documents(tmp_path: Path) -> None:
    from lm_eval.tasks import TaskManager

    from harness.paths import tasks_path

    rows = [
        {
            "seed_id": f"mine-{i}",
            "language": "de",
            "prompt": f"Frage Nummer {i}?",
            "response": "Ja.",
        }
        for i in range(5)
    ]
    (tmp_path / "de.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    manager = TaskManager(
        include_path=str(tasks_path()), metadata={"seeds": str(tmp_path), "n_docs": 3}
    )
    tasks = manager.load(["polyglot_respond_de", "polyglot_generate_de"])["tasks"]
    respond = list(tasks["polyglot_respond_de"].eval_docs)
    assert len(respond) == 3 and {d["seed_id"] for d in respond} <= {r["seed_id"] for r in rows}
    assert len(list(tasks["polyglot_generate_de"].eval_docs)) == 3


def test_capped_translate_and_respond_warn_with_the_counts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    with caplog.at_level(logging.WARNING, logger="harness.generate.docs"):
        translate = build_docs("es", "translate", n_docs=3500)
        respond = build_docs("es", "respond", n_docs=3500)
        generate = build_docs("es", "generate", n_docs=40)
    assert (len(translate), len(respond), len(generate)) == (30, 24, 40)
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("translate es: 3500 documents requested") and "only 30" in m
               for m in messages)  # fmt: skip
    assert any(m.startswith("respond es: 3500 documents requested") and "only 24" in m
               for m in messages)  # fmt: skip
    assert not any(m.startswith("generate") for m in messages)  # generate is never capped
