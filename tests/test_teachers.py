"""The registry loads, validates, and names the entry and field on every mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError, UnknownTeacherError
from harness.teachers import get_teacher, load_teachers


def test_bundled_registry_has_the_papers_ten_teachers() -> None:
    registry = load_teachers()
    assert len(registry) == 10
    ids = {s.id for s in registry.values()}
    assert "google/gemma-3-27b-it" in ids and "gpt-4o-mini-2024-07-18" in ids
    assert registry["gpt-4o-mini"].api and registry["gpt-4o-mini"].size_b is None
    assert get_teacher("google/gemma-3-4b-it").name == "gemma-3-4b"
    assert (
        registry["gemma-3-4b"].lm_eval_model_args()
        == "pretrained=google/gemma-3-4b-it,dtype=bfloat16"
    )


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "teachers.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("teachers:\n  mine:\n    id: x\n    family: y\n    size_b: 1\n    backnd: hf\n", "teacher 'mine' has unknown field 'backnd' (did you mean 'backend'?)"),
        ("teachers:\n  mine:\n    family: y\n    size_b: 1\n", "teacher 'mine' is missing field 'id'"),
        ("teachers:\n  mine:\n    id: x\n    family: y\n    size_b: -3\n", "teacher 'mine': field 'size_b'"),
        ("teachers:\n  mine:\n    id: x\n    family: y\n    size_b: 1\n    backend: tgi\n", "teacher 'mine': field 'backend' is 'tgi'"),
        ("teachers:\n  mine:\n    id: x\n    family: y\n    size_b: 1\n    model_args: {api_key: s3cret}\n", "pass secrets through the environment"),
        ("teachers:\n  mine: [1, 2]\n", "teacher 'mine' must be a mapping"),
        ("teachers: {mine: {id: x, family: y, size_b: 1}\n", "is not valid YAML"),
        ("models: {}\n", "expected a top-level 'teachers:' mapping"),
    ],
)  # fmt: skip
def test_errors_name_entry_and_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=None) as info:
        load_teachers(_write(tmp_path, text))
    assert message in str(info.value)
    assert "s3cret" not in str(info.value)


def test_user_adds_one_entry(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "teachers:\n  my-model:\n    id: ./ckpt\n    family: mine\n    size_b: 0.1\n"
    )
    spec = load_teachers(path)["my-model"]
    assert spec.backend == "hf" and spec.model_args == {}
    with pytest.raises(UnknownTeacherError, match="did you mean my-model"):
        get_teacher("my-modle", load_teachers(path))
