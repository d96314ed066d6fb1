"""Language records: the bundled records hold the paper's facts, and a record with a
mistake is refused on load with one line naming the file and the field."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.errors import ConfigError, UnknownLanguageError
from harness.evaluate.benchmarks import check_language
from harness.languages import GRID, LANGUAGES, SOURCE_LANGUAGE, get_language, parse_languages
from harness.languages.record import SCHEMA, Language, load_record

GOOD = """\
code: sw
name: Swahili
native_name: Kiswahili
script: Latn
spaces_between_words: true
lingua: SWAHILI
refusal_openings: ["samahani,? (lakini )?siwezi"]
rubric_context: Swahili speakers in East Africa
"""


def _record(folder: Path, text: str, name: str = "sw") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.jsonl").write_text('{"prompt": "Habari gani?"}\n', encoding="utf-8")
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_grid_is_the_papers_six_languages_and_english_is_the_source() -> None:
    assert GRID == ("ar", "cs", "de", "es", "id", "ja")  # METHOD.md, "Grid"
    assert SOURCE_LANGUAGE.code == "en" and "en" not in LANGUAGES
    assert [lang.code for lang in parse_languages(None)] == list(GRID)


def test_bundled_records_hold_the_papers_benchmark_facts() -> None:
    """METHOD.md: Global-MMLU-Lite in ar de es id ja (no cs), M-RewardBench in all six by
    FLORES config, MGSM in de es ja with the native number-only line."""
    lite = [c for c in GRID if "global_mmlu_lite" in LANGUAGES[c].paper_benchmarks]
    mgsm = [c for c in GRID if "mgsm" in LANGUAGES[c].paper_benchmarks]
    assert lite == ["ar", "de", "es", "id", "ja"] and mgsm == ["de", "es", "ja"]
    assert [LANGUAGES[c].flores for c in GRID] == [
        "arb_Arab", "ces_Latn", "deu_Latn", "spa_Latn", "ind_Latn", "jpn_Jpan",
    ]  # fmt: skip
    assert LANGUAGES["cs"].paper_benchmarks == ("m_rewardbench",)
    assert LANGUAGES["de"].mgsm_instruction == "Antworte nur mit der Zahl."
    assert (LANGUAGES["ja"].mc_question_cue, LANGUAGES["ja"].mc_answer_cue) == ("質問：", "回答：")
    assert LANGUAGES["ja"].mgsm_question_cue == "問題："


def test_every_bundled_record_finds_what_its_benchmarks_need() -> None:
    for code in GRID:
        check_language(LANGUAGES[code])
        assert len(LANGUAGES[code].benchmarks) >= 2, code  # the extended suite's promise


def test_no_space_flag_and_lingua_mapping_per_record() -> None:
    assert [c for c in GRID if not LANGUAGES[c].spaces_between_words] == ["ja"]
    assert {c: LANGUAGES[c].lingua for c in GRID} == {
        "ar": "ARABIC", "cs": "CZECH", "de": "GERMAN", "es": "SPANISH",
        "id": "INDONESIAN", "ja": "JAPANESE",
    }  # fmt: skip


def test_record_schema_covers_every_field_of_the_dataclass() -> None:
    assert set(SCHEMA) | {"record"} == {f.name for f in dataclasses.fields(Language)}


def test_every_bundled_seed_file_is_the_one_under_seeds_data() -> None:
    from harness.paths import seeds_path

    for code in (*GRID, SOURCE_LANGUAGE.code):
        assert get_language(code).seeds == (seeds_path() / f"{code}.jsonl").resolve()


def test_a_code_without_a_record_comes_from_lingua_with_no_facts_of_its_own() -> None:
    french = get_language("FR ")
    assert (french.code, french.name, french.record, french.seeds) == ("fr", "French", None, None)
    assert french.refusal_openings == () and french.paper_benchmarks == ()
    assert french.rubric_context == "French-speaking communities"
    assert not get_language("zh").spaces_between_words
    with pytest.raises(ConfigError, match=r"language 'fr' \(no record.*field 'mgsm_instruction'"):
        french.require("mgsm_instruction", "MGSM")
    with pytest.raises(UnknownLanguageError, match="'xx'"):
        get_language("xx")


def test_a_good_record_loads_with_its_seed_file_beside_it(tmp_path: Path) -> None:
    lang = load_record(_record(tmp_path, GOOD))
    assert lang.seeds == (tmp_path / "sw.jsonl").resolve()
    assert lang.refusal_openings == ("samahani,? (lakini )?siwezi",)
    assert lang.paper_benchmarks == () and lang.mgsm_instruction is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("refusal_openings", "refusal_opening"), r"unknown field 'refusal_opening'; did you mean 'refusal_openings'\?"),
        (("rubric_context: Swahili speakers in East Africa\n", ""), r"missing required field 'rubric_context'"),
        (("spaces_between_words: true", "spaces_between_words: yes please"), r"field 'spaces_between_words' must be true or false"),
        (("lingua: SWAHILI", "lingua: SWAHILLI"), r"field 'lingua': lingua has no language 'SWAHILLI' \(did you mean 'SWAHILI'\?\)"),
        (('["samahani', '["(samahani'), r"field 'refusal_openings': .* is no regular expression"),
        (("code: sw", "code: sv"), r"field 'code' is 'sv'.*\(sv\.yaml\)"),
        (("script: Latn\n", "script: Latn\nseeds: nowhere.jsonl\n"), r"field 'seeds': seed file .*nowhere\.jsonl does not exist"),
        (("name: Swahili", "name: [Swahili]"), r"field 'name' must be a non-empty string"),
        (("code: sw\n", "code: sw\ncode: sw\n"), r"duplicate key 'code'"),
    ],
)  # fmt: skip
def test_a_bad_record_is_one_line_naming_file_and_field(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    path = _record(tmp_path, GOOD.replace(*change))
    with pytest.raises(ConfigError, match=message) as caught:
        load_record(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_a_listed_benchmark_must_exist_and_find_its_facts(tmp_path: Path) -> None:
    typo = load_record(_record(tmp_path / "a", GOOD + "paper_benchmarks: [mgms]\n"))
    with pytest.raises(ConfigError, match=r"unknown benchmark 'mgms'; did you mean 'mgsm'\?"):
        check_language(typo)
    bare = load_record(_record(tmp_path / "b", GOOD + "paper_benchmarks: [mgsm]\n"))
    with pytest.raises(ConfigError, match=r"sw\.yaml: mgsm needs field 'mgsm_question_cue'"):
        check_language(bare)
    flores = load_record(_record(tmp_path / "c", GOOD + "extended_benchmarks: [belebele]\n"))
    with pytest.raises(ConfigError, match=r"(?i)belebele.*flores"):
        check_language(flores)
