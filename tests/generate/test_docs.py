"""Task documents: deterministic, traceable, steerable through lm-eval metadata."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import ConfigError, EmptyDataError, InputNotFoundError, UnknownLanguageError
from harness.generate.docs import build_docs
from harness.generate.prompts import CATEGORIES


def test_generate_docs_rotate_categories_and_carry_seed_ids() -> None:
    docs = build_docs("de", "generate", n_docs=12)
    assert [d["category"] for d in docs[:10]] == list(CATEGORIES)
    assert all(len(d["seed_ids"]) == 3 for d in docs)
    assert docs[0]["seed_id"] == "de-gen-1234-00000"  # the draw's seed: two draws never collide
    assert "German (Deutsch)" in docs[0]["system_prompt"]
    assert '{"prompt":' in docs[0]["user_prompt"]
    assert build_docs("de", "generate", n_docs=12) == docs  # deterministic
    assert build_docs("de", "generate", n_docs=12, seed=7) != docs


def test_translate_uses_english_sources_and_respond_the_target_prompts() -> None:
    translate = build_docs("ja", "translate")
    assert len(translate) == 30 and all(d["seed_id"].startswith("en-") for d in translate)
    assert translate[0]["source_prompt"] in translate[0]["user_prompt"]
    respond = build_docs("ja", "respond", n_docs=5)
    assert len(respond) == 5 and all(d["seed_id"].startswith("ja-") for d in respond)
    assert respond[0]["user_prompt"] == respond[0]["source_prompt"]


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
