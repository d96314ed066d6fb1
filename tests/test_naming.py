"""Artefact names are file- and repo-safe and round-trip where they must."""

from __future__ import annotations

import pytest

from harness.naming import hub_repo_id, parse_student_run_name, slug, student_run_name


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("google/gemma-3-4b-it", "google__gemma-3-4b-it"),
        ("/tmp/runs/ckpt/final", "ckpt__final"),
        ("out/models/student-base", "models__student-base"),
        ("./final", "final"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini-2024-07-18"),
        ("weird name: v2!", "weird-name-v2"),
        ("", "unnamed"),
    ],
)
def test_slug(name: str, expected: str) -> None:
    assert slug(name) == expected


def test_student_run_name_round_trips() -> None:
    name = student_run_name("olmo3", "google/gemma-3-27b-it", "de")
    assert name == "olmo3--google__gemma-3-27b-it--de"
    assert parse_student_run_name(name) == ("olmo3", "google__gemma-3-27b-it", "de")
    with pytest.raises(ValueError, match="not a student run name"):
        parse_student_run_name("just-a-folder")


def test_hub_repo_id_is_valid_and_bounded() -> None:
    repo = hub_repo_id("my-org", "student", "olmo3", "google/gemma-3-27b-it", "de")
    assert repo == "my-org/polyglot-student-olmo3-google-gemma-3-27b-it-de"
    assert len(hub_repo_id("o", "data", "x" * 300).split("/")[1]) <= 96


def test_model_args_parse_from_strings_and_mappings() -> None:
    from harness.naming import model_from_args, parse_model_args

    assert parse_model_args("pretrained=org/m,dtype=float32") == {
        "pretrained": "org/m",
        "dtype": "float32",
    }
    assert parse_model_args({"pretrained": "x", "batch": 8}) == {"pretrained": "x", "batch": "8"}
    assert model_from_args("model=gpt-4o-mini,base_url=http://h") == "gpt-4o-mini"
    assert model_from_args("pretrained=/p/ckpt,model=ignored") == "/p/ckpt"
    assert model_from_args("") is None


def test_task_names_round_trip_and_groups_never_parse_as_leaves() -> None:
    from harness.naming import (
        eval_group,
        eval_task,
        generation_group,
        generation_task,
        parse_eval_group,
        parse_eval_task,
        parse_generation_task,
    )

    assert generation_task("respond", "de") == "polyglot_respond_de"
    assert parse_generation_task("polyglot_translate_ja") == ("translate", "ja")
    assert parse_generation_task("polyglot_eval_de") is None  # "eval" is no strategy
    assert (generation_group("de"), generation_group()) == ("polyglot_de", "polyglot")
    assert eval_task("gmmlu_lite", "de") == "polyglot_eval_gmmlu_lite_de"
    assert parse_eval_task("polyglot_eval_gmmlu_lite_de") == ("gmmlu_lite", "de")
    assert parse_eval_task("polyglot_eval_heldout_fil") == ("heldout", "fil")
    assert (eval_group("cs"), eval_group("cs", extended=True)) == (
        "polyglot_eval_cs",
        "polyglot_eval_ext_cs",
    )
    for group in ("polyglot_eval_cs", "polyglot_eval_ext_cs"):
        assert parse_eval_task(group) is None
    assert parse_eval_group("polyglot_eval_ext_cs") == ("cs", True)
    assert parse_eval_group("polyglot_eval_mgsm_de") is None
    with pytest.raises(ValueError, match="not 'ext'"):
        eval_task("ext", "de")  # would read back as the extended group


def test_artefact_files_are_spelled_once() -> None:
    """The modules that used to spell these now take them from harness.naming."""
    from harness import naming
    from harness.publish import plan
    from harness.schema import DATA_FILE
    from harness.score import inputs, lm_eval_results
    from harness.train import card

    assert card.SIDECAR is naming.RUN_RECORD and plan.SIDECAR is naming.RUN_RECORD
    assert lm_eval_results.SIDECAR is naming.RUN_RECORD and DATA_FILE is naming.DATA_FILE
    assert (
        plan.SCORES_FILE is naming.SCORES_FILE and inputs.INTRINSIC_SUMMARY is naming.SUMMARY_FILE
    )
    assert naming.samples_file("polyglot_respond_de", "2025-01-01T00-00-00") == (
        "samples_polyglot_respond_de_2025-01-01T00-00-00.jsonl"
    )
