"""A language pack from a folder outside the package: one YAML record and one seed file
add Swahili to every stage, including plain lm-eval, without editing the harness."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.languages import (
    PACKS_ENV,
    generation_languages,
    get_language,
    parse_languages,
    register_pack,
    unregister_pack,
)

SWAHILI = """\
# Swahili: a language pack record, the bundled records' schema.
code: sw
name: Swahili
native_name: Kiswahili
script: Latn
spaces_between_words: true
lingua: SWAHILI
refusal_openings:
  - "samahani,? (lakini )?siwezi"
rubric_context: Swahili speakers in East Africa
rubric_extra: Standard Swahili (Kiswahili sanifu) spelling and noun-class agreement.
flores: swh_Latn
paper_benchmarks: [m_rewardbench]
"""
SEEDS = [
    ("Eleza kwa ufupi jinsi mvua inavyonyesha katika maeneo ya pwani.", "Mvua hunyesha..."),
    ("Andika shairi fupi kuhusu bahari ya Hindi na wavuvi wake.", "Bahari ya Hindi..."),
    ("Ni nini tofauti kati ya simba na chui kwa maisha yao porini?", "Simba huishi..."),
    ("Tafadhali nieleze historia ya mji wa Zanzibar kwa sentensi tatu.", "Zanzibar ni..."),
]


def write_pack(folder: Path, record: str = SWAHILI, code: str = "sw") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{code}.yaml").write_text(record, encoding="utf-8")
    rows = [{"seed_id": f"{code}-{i}", "prompt": p, "response": r, "source": "pack"}
            for i, (p, r) in enumerate(SEEDS)]  # fmt: skip
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    (folder / f"{code}.jsonl").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def swahili(tmp_path: Path) -> Iterator[Path]:
    pack = write_pack(tmp_path / "my-languages")
    register_pack(pack)
    yield pack
    unregister_pack(pack)


def test_pack_language_resolves_with_its_own_facts(swahili: Path) -> None:
    from harness.intrinsic.rubrics import rubric_for

    (lang,) = parse_languages("sw")
    assert lang.record == (swahili / "sw.yaml").resolve()
    assert (lang.name, lang.native_name, lang.flores) == ("Swahili", "Kiswahili", "swh_Latn")
    assert generation_languages()[-1] == "sw"
    assert "Swahili speakers in East Africa" in rubric_for("sw")
    assert "noun-class agreement" in rubric_for("sw")


def test_pack_refusal_openings_decide_the_refusal_correction(swahili: Path) -> None:
    from harness.generate.validity import assess, is_refusal

    refusal = "Samahani, siwezi kukusaidia na hilo kwa sababu ni hatari."
    assert is_refusal(refusal, "sw")
    assert is_refusal("I'm sorry, but I can't help with that.", "sw")  # English always
    assert not is_refusal("Mvua hunyesha wakati mvuke wa maji unapopoa angani.", "sw")
    seed = SEEDS[0][0]
    paper = assess("respond", refusal, "sw", source_prompt=seed)
    assert paper.valid and paper.correction_reason == "refusal"
    filtered = assess("respond", refusal, "sw", source_prompt=seed, protocol="paper+refusal_filter")
    assert filtered.invalid_reason == "refusal"


def test_pack_seeds_feed_the_generation_docs(swahili: Path) -> None:
    from harness.generate.docs import build_docs
    from harness.seeds import load_seed_rows

    assert [r["prompt"] for r in load_seed_rows("sw")] == [p for p, _ in SEEDS]
    docs = build_docs("sw", "respond", seed=3)
    assert sorted(d["source_prompt"] for d in docs) == sorted(p for p, _ in SEEDS)
    assert all("Swahili" in d["system_prompt"] for d in docs)


def test_lingua_mapping_reports_a_packs_own_code(tmp_path: Path) -> None:
    """Norwegian as ``no``: lingua calls it BOKMAL (``nb``); the record maps it back, so
    the language-ID correction keeps Norwegian text in a Norwegian dataset."""
    from harness.generate.langid import detect_language
    from harness.generate.validity import assess

    record = SWAHILI.replace("lingua: SWAHILI", "lingua: BOKMAL")
    with pytest.raises(ConfigError, match=r"field 'code' reads as the YAML boolean False; quote"):
        register_pack(
            write_pack(tmp_path / "unquoted", record.replace("code: sw", "code: no"), "no")
        )
    record = record.replace("code: sw", 'code: "no"')
    pack = write_pack(tmp_path / "no-pack", record, code="no")
    text = "Jeg liker å gå tur i skogen om høsten, fordi luften er frisk og bladene er vakre."
    assert detect_language(text) == "nb"
    register_pack(pack)
    try:
        assert detect_language(text) == "no"
        verdict = assess("respond", text, "no", source_prompt=text, protocol="corrected")
        assert verdict.valid, verdict
    finally:
        unregister_pack(pack)
    assert detect_language(text) == "nb"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("rubric_context:", "rubric_contxt:"), r"unknown field 'rubric_contxt'; did you mean 'rubric_context'\?"),
        (("paper_benchmarks: [m_rewardbench]", "paper_benchmarks: [mgsm]"), r"mgsm needs field 'mgsm_question_cue'"),
        (("code: sw", "code: de"), r"field 'code' is 'de'"),
    ],
)  # fmt: skip
def test_a_bad_pack_is_one_line_naming_the_file(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    pack = write_pack(tmp_path / "bad", SWAHILI.replace(*change))
    with pytest.raises(ConfigError, match=message) as caught:
        register_pack(pack)
    assert str(pack / "sw.yaml") in str(caught.value) and "\n" not in str(caught.value)
    assert get_language("sw").record is None  # nothing half-registered: lingua's Swahili


def test_a_pack_cannot_redefine_a_bundled_language(tmp_path: Path) -> None:
    record = SWAHILI.replace("code: sw", "code: de")
    pack = write_pack(tmp_path / "de-pack", record, code="de")
    with pytest.raises(ConfigError, match=r"language 'de' is bundled with the harness") as caught:
        register_pack(pack)
    assert "\n" not in str(caught.value)
    assert get_language("de").record != (pack / "de.yaml").resolve()


def test_a_bad_pack_in_the_environment_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pack = write_pack(tmp_path / "env-bad", SWAHILI.replace("lingua:", "lingo:"))
    monkeypatch.setenv(PACKS_ENV, str(pack))
    with pytest.raises(
        ConfigError, match=rf"^\${PACKS_ENV}: .*unknown field 'lingo'; did you mean 'lingua'"
    ):
        get_language("sw")
    monkeypatch.setenv(PACKS_ENV, str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match=r"language pack .*missing does not exist"):
        parse_languages("sw")


PROBE = textwrap.dedent(
    """
    import json
    from lm_eval.tasks import TaskManager, get_task_dict
    tm = TaskManager()
    task = get_task_dict(["polyglot_respond_sw"], tm)["polyglot_respond_sw"]
    print(json.dumps({
        "has": [t for t in tm.all_tasks if t.startswith("polyglot") and t.endswith("_sw")],
        "glob": tm.match_tasks(["polyglot_*"]),
        "prompts": sorted(d["source_prompt"] for d in task.eval_docs),
    }))
    """
)


def _lm_eval_probe(env: dict[str, str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_plain_lm_eval_finds_and_builds_a_packs_tasks(tmp_path: Path) -> None:
    """The pack is given to a fresh lm-eval process only through the environment."""
    pack = write_pack(tmp_path / "outside" / "swahili-pack")
    cache = tmp_path / "cache"
    env = {**os.environ, PACKS_ENV: str(pack), "POLYGLOT_HARNESS_CACHE": str(cache)}
    result = _lm_eval_probe(env)
    assert sorted(result["has"]) == [
        "polyglot_eval_ext_sw", "polyglot_eval_mrewardbench_sw", "polyglot_eval_sw",
        "polyglot_generate_sw", "polyglot_respond_sw", "polyglot_sw", "polyglot_translate_sw",
    ]  # fmt: skip
    assert result["glob"][-1] == "polyglot_sw" and "polyglot_generate_sw" not in result["glob"]
    assert result["prompts"] == sorted(p for p, _ in SEEDS)
    (written,) = (cache / "tasks").iterdir()  # one folder, named by its content
    leaf = written / "polyglot_eval" / "sw" / "polyglot_eval_mrewardbench_sw.yaml"
    assert "dataset_name: swh_Latn" in leaf.read_text(encoding="utf-8")  # the record's FLORES


def test_an_entry_point_adds_a_pack(tmp_path: Path) -> None:
    """A distribution declaring ``[polyglot_harness.languages]`` in its entry points."""
    pack = write_pack(tmp_path / "data")
    site = tmp_path / "site"
    dist = site / "swahili_pack-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: swahili-pack\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[polyglot_harness.languages]\nswahili = swahili_pack:pack_folder\n"
    )
    (site / "swahili_pack.py").write_text(f"def pack_folder():\n    return {str(pack)!r}\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
    code = "from harness.languages import get_language; print(get_language('sw').record)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == str((pack / "sw.yaml").resolve())
