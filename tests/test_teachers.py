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


_ENTRY = "    id: x\n    family: y\n    size_b: 1\n"


@pytest.mark.parametrize(
    ("backend", "args"),
    [
        ("local-completions", "model=x"),
        ("anthropic-chat", "model=x"),
        ("sglang", "pretrained=x"),
        ("gguf", "base_url=x"),
        ("hf-multimodal", "pretrained=x"),
    ],
)
def test_any_lm_eval_model_type_is_a_backend(tmp_path: Path, backend: str, args: str) -> None:
    spec = load_teachers(_write(tmp_path, f"teachers:\n  mine:\n{_ENTRY}    backend: {backend}\n"))
    assert spec["mine"].backend == backend
    assert spec["mine"].lm_eval_model_args() == args


def test_backend_typo_names_the_nearest_lm_eval_model_type(tmp_path: Path) -> None:
    text = f"teachers:\n  mine:\n{_ENTRY}    backend: openai-chat-completion\n"
    with pytest.raises(ConfigError) as info:
        load_teachers(_write(tmp_path, text))
    assert "teacher 'mine': field 'backend' is 'openai-chat-completion'" in str(info.value)
    assert "did you mean openai-chat-completions" in str(info.value)


def test_legitimate_token_args_are_not_taken_for_secrets(tmp_path: Path) -> None:
    text = (
        f"teachers:\n  mine:\n{_ENTRY}    backend: local-chat-completions\n"
        "    model_args: {tokenizer: org/tok, tokenized_requests: false, max_tokens: 64,"
        " tokenizer_backend: huggingface}\n"
    )
    spec = load_teachers(_write(tmp_path, text))["mine"]
    assert spec.lm_eval_model_args() == (
        "model=x,tokenizer=org/tok,tokenized_requests=False,max_tokens=64,"
        "tokenizer_backend=huggingface"
    )


@pytest.mark.parametrize("key", ["api_key", "auth_token", "hf_token", "password", "secret"])
def test_credentials_in_model_args_are_refused(tmp_path: Path, key: str) -> None:
    text = f"teachers:\n  mine:\n{_ENTRY}    model_args: {{{key}: s3cret}}\n"
    with pytest.raises(ConfigError, match="pass secrets through the environment") as info:
        load_teachers(_write(tmp_path, text))
    assert "s3cret" not in str(info.value)


def test_model_in_model_args_is_refused(tmp_path: Path) -> None:
    text = f"teachers:\n  mine:\n{_ENTRY}    model_args: {{pretrained: other/model}}\n"
    with pytest.raises(ConfigError, match="holds 'pretrained'; put the model in field 'id'"):
        load_teachers(_write(tmp_path, text))


def test_duplicate_teacher_names_are_an_error(tmp_path: Path) -> None:
    text = (
        "teachers:\n"
        "  mine:\n    id: first/model\n    family: y\n    size_b: 1\n"
        "  other:\n    id: o\n    family: y\n    size_b: 1\n"
        "  mine:\n    id: second/model\n    family: y\n    size_b: 1\n"
    )
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_teachers(path)
    message = str(info.value)
    assert message.startswith(f"{path}: line 10 ")
    assert "duplicate key 'mine' (first at line 2)" in message


def test_duplicate_field_in_an_entry_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, f"teachers:\n  mine:\n{_ENTRY}    id: again\n")
    with pytest.raises(ConfigError, match=r"line 6 .*duplicate key 'id' \(first at line 3\)"):
        load_teachers(path)


def test_merge_keys_may_be_overridden(tmp_path: Path) -> None:
    text = (
        "base: &base {id: x, family: y, size_b: 1}\nteachers:\n  mine:\n    <<: *base\n    id: z\n"
    )
    # The anchor lives in a top-level key the registry rejects: the merge itself is fine.
    with pytest.raises(ConfigError, match="unknown top-level key 'base'"):
        load_teachers(_write(tmp_path, text))
    text = "teachers:\n  mine: &m {id: x, family: y, size_b: 1}\n  yours:\n    <<: *m\n    id: z\n"
    registry = load_teachers(_write(tmp_path, text))
    assert registry["yours"].id == "z" and registry["yours"].family == "y"


def test_registry_with_invalid_utf8_is_one_line_naming_the_file(tmp_path: Path, capsys) -> None:
    from harness.cli.main import main

    path = tmp_path / "teachers.yaml"
    path.write_bytes(b"teachers:\n  mine:\n    id: caf\xe9\n    family: y\n    size_b: 1\n")
    with pytest.raises(ConfigError, match=r"line 3 is not UTF-8 text \(byte 0xe9\)"):
        load_teachers(path)
    assert main(["teachers", "--registry", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and "Traceback" not in err


def test_directory_as_registry_is_one_line_naming_it(tmp_path: Path, capsys) -> None:
    from harness.cli.main import main

    with pytest.raises(ConfigError, match="is a directory; pass the YAML file"):
        load_teachers(tmp_path)
    assert main(["teachers", "--registry", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(tmp_path) in err
