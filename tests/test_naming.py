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
