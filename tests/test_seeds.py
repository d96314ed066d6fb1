"""Seed pools: the builder over local copies of every source in its Hub schema, the
save/load round trip, the error messages, and the bundled sample's quality bar.

The fixture datasets are tiny but keep each source's real column layout (per the dataset
cards), so a registry change that breaks a schema fails here, offline.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from harness.errors import ConfigError, EmptyDataError, InputNotFoundError
from harness.languages import GRID, SOURCE_LANGUAGE

CATEGORIES = {
    "reasoning", "math", "classification", "dialogue", "translation",
    "procedure", "grammar", "creative", "knowledge", "cultural",
}  # fmt: skip
SHARED = "Wie viele Einwohner hat Hamburg ungefähr?"  # in WildChat and HelpSteer3


def _turns(*pairs: tuple[str, str], keys: tuple[str, str] = ("role", "content")) -> list[dict]:
    return [{keys[0]: role, keys[1]: text} for role, text in pairs]


def _wc(text: str, language: str, answer: str = "Gern.") -> dict:
    conv = [
        {"content": text, "role": "user", "language": language, "country": "Germany"},
        {"content": answer, "role": "assistant", "language": language, "country": ""},
    ]
    return {"conversation_hash": hashlib.md5(text.encode()).hexdigest(), "model": "gpt-4",
            "conversation": conv, "turn": 1, "language": language}  # fmt: skip


def _hs3(domain: str, language: str, context: list[dict], pref: int) -> dict:
    return {"domain": domain, "language": language, "context": context,
            "response1": "Antwort eins.", "response2": "Antwort zwei.",
            "overall_preference": pref}  # fmt: skip


def _oa(mid: str, parent: str | None, text: str, role: str, lang: str, deleted=False) -> dict:
    return {"message_id": mid, "parent_id": parent, "user_id": "u", "text": text,
            "role": role, "lang": lang, "deleted": deleted, "message_tree_id": "t"}  # fmt: skip


FIXTURES: dict[str, list[dict]] = {
    "wildchat": [
        _wc("Erkläre mir bitte den Unterschied zwischen Föderalismus und Zentralismus.", "German"),
        _wc(
            "  erkläre mir bitte den Unterschied zwischen  Föderalismus und Zentralismus. ",
            "German",
        ),
        _wc(SHARED, "German", "Etwa 1,9 Millionen."),
        _wc("hi", "German"),  # below the length floor
        _wc("Explique-moi la photosynthèse, s'il te plaît.", "French"),
        _wc("富士山の高さを教えてください。", "Japanese", "3776メートルです。"),
    ],
    "helpsteer3": [
        _hs3("multilingual", "german", _turns(("user", "Schreib ein Haiku über Regen.")), 2),
        _hs3("multilingual", "german", _turns(("user", SHARED)), -1),
        _hs3("multilingual", "japanese", _turns(("user", "敬語の使い方を教えてください。")), 0),
        _hs3("code", "python", _turns(("user", "Write a quicksort in Python.")), 1),
        _hs3("general", "english", _turns(("user", "What is the capital of France?")), 1),
    ],
    "euroblocks": [
        {
            "conversations": _turns(
                ("human", "Nenne drei Nebenflüsse des Rheins."),
                ("gpt", "Main, Mosel und Neckar."),
                keys=("from", "value"),
            ),
            "dataset": "multilingual-synthetic-llama3.1-70B",
            "language": "de",
        },
        {
            "conversations": _turns(
                ("human", "Was ist ein Magpie-Prompt überhaupt?"),
                ("gpt", "Eine Methode."),
                keys=("from", "value"),
            ),
            "dataset": "magpie-ultra",
            "language": "de",
        },
    ],
    "aya": [
        {
            "inputs": "Was ist die Hauptstadt von Bayern?",
            "targets": "München.",
            "language": "German",
            "language_code": "deu",
            "annotation_type": "original-annotations",
            "user_id": "a",
        },
        {
            "inputs": "日本で一番長い川は何ですか？",
            "targets": "信濃川です。",
            "language": "Japanese",
            "language_code": "jpn",
            "annotation_type": "original-annotations",
            "user_id": "b",
        },
    ],
    "oasst2": [
        _oa("1", None, "Wie funktioniert eine Wärmepumpe eigentlich?", "prompter", "de"),
        _oa("2", "1", "Sie nutzt Umgebungswärme.", "assistant", "de"),
        _oa("3", "2", "Und wie effizient ist sie im Winter?", "prompter", "de"),
        _oa("4", None, "Gelöschte Frage zum Thema Steuern.", "prompter", "de", deleted=True),
        _oa("5", None, "おすすめの日本の小説を教えてください。", "prompter", "ja"),
    ],
    "gsm8k": [
        {
            "question": "Tom has 3 boxes of 8 pens. How many pens does he have?",
            "answer": "He has 3*8=<<3*8=24>>24 pens.\n#### 24",
        },
    ],
    "magpie": [
        {
            "uuid": "m1",
            "conversations": _turns(
                ("human", "Explain recursion in two sentences."),
                ("gpt", "A function calls itself."),
                keys=("from", "value"),
            ),
        },
    ],
}


@pytest.fixture(scope="module")
def source_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each source as a parquet folder, as a Hub snapshot of it would look."""
    import datasets

    root = tmp_path_factory.mktemp("seed_sources")
    paths = {}
    for name, rows in FIXTURES.items():
        folder = root / name
        folder.mkdir()
        datasets.Dataset.from_list(rows).to_parquet(str(folder / "train-00000-of-00001.parquet"))
        paths[name] = folder
    return paths


@pytest.fixture(scope="module")
def built(source_paths: dict[str, Path]) -> dict:
    from harness.seeds import build_seeds

    return build_seeds(["de", "ja", "en"], sample_size=100, source_paths=source_paths,
                       progress=False)  # fmt: skip


def test_language_filter_rules_and_dedupe(built: dict) -> None:
    de = {r["prompt"]: r for r in built["de"]}
    assert set(de) == {
        "Erkläre mir bitte den Unterschied zwischen Föderalismus und Zentralismus.",
        SHARED,
        "Schreib ein Haiku über Regen.",
        "Nenne drei Nebenflüsse des Rheins.",
        "Was ist die Hauptstadt von Bayern?",
        "Wie funktioniert eine Wärmepumpe eigentlich?",
        "Und wie effizient ist sie im Winter?",  # an oasst2 follow-up, not a thread root
    }
    assert de[SHARED]["source"] == "allenai/WildChat-4.8M"  # registry order wins the dedupe
    assert de["Schreib ein Haiku über Regen."]["response"] == "Antwort zwei."  # preferred
    assert de["Nenne drei Nebenflüsse des Rheins."]["response"] == "Main, Mosel und Neckar."
    assert de["Wie funktioniert eine Wärmepumpe eigentlich?"]["response"] == ""
    assert {r["language"] for r in built["de"]} == {"de"}
    assert len(built["ja"]) == 4  # wildchat, helpsteer3, aya, oasst2
    en = {r["prompt"]: r for r in built["en"]}
    assert set(en) == {FIXTURES["gsm8k"][0]["question"], "Explain recursion in two sentences."}
    assert en[FIXTURES["gsm8k"][0]["question"]]["response"] == "He has 3*8=24 pens.\n#### 24"


def test_seed_ids_are_stable_and_unique(built: dict) -> None:
    for dset in built.values():
        ids = dset["seed_id"]
        assert len(set(ids)) == len(ids)
    row = next(r for r in built["ja"] if r["source"] == "OpenAssistant/oasst2")
    digest = hashlib.sha1(row["prompt"].encode("utf-8")).hexdigest()[:10]
    assert row["seed_id"] == f"oa2-{digest}"


def test_sample_size_takes_the_first_rows_of_one_fixed_shuffle(
    source_paths: dict[str, Path],
) -> None:
    """Protocol fact: the pool is one shuffle (fixed seed) of all sources, first N taken."""
    from harness.seeds import build_seeds

    kwargs = {"source_paths": source_paths, "progress": False}
    first = build_seeds("de", sample_size=4, **kwargs)["de"]
    again = build_seeds(["de"], sample_size=4, **kwargs)["de"]
    everything = build_seeds("de", sample_size=100, **kwargs)["de"]
    assert first.num_rows == 4 and everything.num_rows == 7
    assert first["seed_id"] == again["seed_id"]  # deterministic
    assert first["seed_id"] == everything["seed_id"][:4]  # a prefix, not per-source quotas
    other = build_seeds("de", sample_size=100, seed=1, **kwargs)["de"]
    assert sorted(other["seed_id"]) == sorted(everything["seed_id"])
    assert other["seed_id"] != everything["seed_id"]  # the seed decides the order


def _rows(short: str, n: int) -> list[dict]:
    return [{"seed_id": f"{short}-{i:04d}", "prompt": f"{short} Frage Nummer {i}?",
             "response": "", "source": short, "language": "de"} for i in range(n)]  # fmt: skip


def test_natural_seed_mix_keeps_each_sources_share() -> None:
    """Protocol fact: no equal share per source; a source with 90% of rows keeps ~90%."""
    from harness.seeds import sample_seed_pool

    pool = sample_seed_pool(
        {"big": _rows("big", 900), "small": _rows("small", 100)}, 200, "3407-de"
    )
    assert len(pool) == 200 and len({r["seed_id"] for r in pool}) == 200
    big = sum(r["source"] == "big" for r in pool)
    # Hypergeometric: mean 180, sd ~3.8; an equal share would give 100.
    assert 165 <= big <= 195, big
    # Load order does not matter, the seed key does.
    swapped = sample_seed_pool(
        {"small": _rows("small", 100), "big": _rows("big", 900)}, 200, "3407-de"
    )
    assert [r["seed_id"] for r in swapped] == [r["seed_id"] for r in pool]
    reseeded = sample_seed_pool(
        {"big": _rows("big", 900), "small": _rows("small", 100)}, 200, "1-de"
    )
    assert [r["seed_id"] for r in reseeded] != [r["seed_id"] for r in pool]


def test_natural_seed_mix_dedupes_across_sources_in_registry_order() -> None:
    from harness.seeds import sample_seed_pool

    first = _rows("wc", 3)
    copy = [{**first[0], "seed_id": "hs3-x", "source": "hs3", "prompt": "  WC frage nummer 0?"}]
    pool = sample_seed_pool({"wc": first, "hs3": copy}, 10, "k")
    assert sorted(r["seed_id"] for r in pool) == ["wc-0000", "wc-0001", "wc-0002"]


def test_oasst2_contributes_every_prompter_message(built: dict) -> None:
    """Protocol fact: follow-up prompter messages count too, not only thread roots;
    assistant and deleted messages never do."""
    oasst = sorted(r["prompt"] for r in built["de"] if r["source"] == "OpenAssistant/oasst2")
    assert oasst == [
        "Und wie effizient ist sie im Winter?",
        "Wie funktioniert eine Wärmepumpe eigentlich?",
    ]


def test_explicit_sources_and_errors(source_paths: dict[str, Path]) -> None:
    from harness.seeds import build_seeds

    one_file = {"aya": source_paths["aya"] / "train-00000-of-00001.parquet"}
    only = build_seeds("de", sources=["aya"], source_paths=one_file, progress=False)
    assert only["de"]["source"] == ["CohereForAI/aya_dataset"]
    with pytest.raises(ConfigError, match="unknown seed source 'nope'"):
        build_seeds("de", sources=["nope"], progress=False)
    with pytest.raises(ConfigError, match="none of the sources"):
        build_seeds("de", sources=["gsm8k"], progress=False)
    with pytest.raises(EmptyDataError, match="'cs'"):
        build_seeds("cs", sources=["aya"], source_paths=source_paths, progress=False)
    wrong = {"aya": source_paths["magpie"]}  # a folder in another schema
    with pytest.raises(ConfigError, match="lacks column"):
        build_seeds("de", sources=["aya"], source_paths=wrong, progress=False)


def test_save_load_round_trip(built: dict, tmp_path: Path) -> None:
    from harness.seeds import load_seed_rows, save_seeds

    written = save_seeds(built, tmp_path / "seeds")
    assert sorted(p.name for p in written) == ["de.jsonl", "en.jsonl", "ja.jsonl"]
    rows = load_seed_rows("ja", tmp_path / "seeds")
    assert [r["seed_id"] for r in rows] == built["ja"]["seed_id"]
    assert "富士山" in (tmp_path / "seeds" / "ja.jsonl").read_text(encoding="utf-8")
    built["de"].to_parquet(str(tmp_path / "pq" / "de.parquet"))
    assert [r["prompt"] for r in load_seed_rows("de", str(tmp_path / "pq"))] == built["de"][
        "prompt"
    ]


def test_load_errors_name_the_path_and_language(tmp_path: Path) -> None:
    from harness.seeds import load_seed_rows

    with pytest.raises(InputNotFoundError, match=r"'de'.*missing"):
        load_seed_rows("de", tmp_path / "missing")
    with pytest.raises(InputNotFoundError, match=r"de\.jsonl or de\.parquet"):
        load_seed_rows("de", tmp_path)
    (tmp_path / "de.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(EmptyDataError, match=r"de\.jsonl.*'de'"):
        load_seed_rows("de", tmp_path)
    (tmp_path / "de.jsonl").write_text('{"prompt": "ok"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"de\.jsonl:1"):
        load_seed_rows("de", tmp_path)


def test_cli_builds_from_local_copies(source_paths: dict[str, Path], tmp_path: Path) -> None:
    import argparse

    from harness.cli import seeds as cli

    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers())
    argv = ["seeds", "--languages", "ja", "--sample-size", "2", "--out", str(tmp_path),
            "--no-progress"]  # fmt: skip
    for name, path in source_paths.items():
        argv += ["--source-path", f"{name}={path}"]
    args = parser.parse_args(argv)
    assert args.run(args) == 0
    lines = (tmp_path / "ja.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and all(json.loads(line)["language"] == "ja" for line in lines)


@pytest.mark.parametrize("code", [*GRID, SOURCE_LANGUAGE.code])
def test_bundled_seeds(code: str) -> None:
    from harness.generate.langid import detect_languages
    from harness.seeds import load_seed_rows

    rows = load_seed_rows(code)
    assert len(rows) >= 20
    assert len({r["seed_id"] for r in rows}) == len(rows)
    assert all(r["source"] == "bundled" and r["response"] for r in rows)
    assert {r.get("category") for r in rows} == CATEGORIES
    texts = [r["prompt"] for r in rows] + [r["response"] for r in rows]
    wrong = [t[:60] for t, got in zip(texts, detect_languages(texts), strict=True) if got != code]
    assert not wrong, f"lingua does not read these as {code}: {wrong}"


def test_push_to_hub_one_config_per_language(built: dict, hub_token: str, hub_repo_id: str) -> None:
    from datasets import load_dataset

    from harness.seeds import push_to_hub

    push_to_hub(built, hub_repo_id, token=hub_token)
    for code in ("de", "ja"):
        loaded = load_dataset(hub_repo_id, code, split="train", token=hub_token)
        assert loaded["seed_id"] == built[code]["seed_id"]


def test_sources_load_from_the_hub_by_their_ids(hub_token: str) -> None:
    """The default path: the registry's dataset id, config and split, via ``datasets``."""
    from datasets import Dataset

    from harness.errors import HubError
    from harness.seeds import SOURCES, build_seeds

    for name in ("wildchat", "helpsteer3"):
        src = SOURCES[name]
        Dataset.from_list(FIXTURES[name]).push_to_hub(
            src.dataset_id, config_name=src.config or "default", split=src.split, token=hub_token
        )
    de = build_seeds("de", sources=["wildchat", "helpsteer3"], progress=False)["de"]
    assert set(de["source"]) == {"allenai/WildChat-4.8M", "nvidia/HelpSteer3"}
    assert de.num_rows == 3
    with pytest.raises(HubError, match="--source-path aya=DIR"):
        build_seeds("de", sources=["aya"], progress=False)


def test_duplicate_seed_ids_are_an_error_naming_file_line_and_id(tmp_path: Path) -> None:
    from harness.seeds import load_seed_rows

    rows = [
        {"seed_id": "de-1", "prompt": "Wie spät ist es in Berlin?"},
        {"seed_id": "de-2", "prompt": "Wie weit ist der Mond entfernt?"},
        {"seed_id": "de-1", "prompt": "Was kostet ein Brot?"},
    ]
    path = tmp_path / "de.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(
        ConfigError, match=rf"^{re.escape(str(path))}:3: duplicate seed_id 'de-1', first on line 1"
    ):
        load_seed_rows("de", tmp_path)
    # Rows without ids get one from their prompt: the same prompt twice collides too.
    rows = [{"prompt": "Was kostet ein Brot?"}, {"prompt": "Was  kostet ein Brot?"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(
        ConfigError, match=rf"^{re.escape(str(path))}:2: duplicate prompt \(derived seed_id"
    ):
        load_seed_rows("de", tmp_path)
