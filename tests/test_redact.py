"""Credentials never survive into what the harness writes."""

from __future__ import annotations

import pytest

from harness.redact import (
    REDACTED,
    is_secret_key,
    redact_values,
    scrub_model_args,
    secret_values,
)


def test_secret_keys_go_and_ordinary_keys_stay() -> None:
    args = "model=gpt-4o-mini,api_key=sk-123,tokenizer=org/tok,max_tokens=512,hf_token=hf_x"
    assert scrub_model_args(args) == "model=gpt-4o-mini,tokenizer=org/tok,max_tokens=512"
    assert scrub_model_args({"pretrained": "x", "token": "t"}) == "pretrained=x"
    assert not is_secret_key("tokenizer") and is_secret_key("OPENAI_API_KEY")


def test_url_credentials_are_redacted() -> None:
    out = scrub_model_args("base_url=https://user:pw@host/v1/chat,model=m")
    assert out == "base_url=https://<redacted>@host/v1/chat,model=m"
    assert "pw" not in out


@pytest.mark.parametrize(
    ("args", "secret"),
    [
        ("base_url=https://api.example/v1?api-key=sk-QUERY1,model=m", "sk-QUERY1"),
        ("base_url=https://api.example/v1?x=1&token=tok-QUERY2,model=m", "tok-QUERY2"),
        ("base_url=https://h/v1?sig=SIGNATURE3;other=1,model=m", "SIGNATURE3"),
        ("bearer=BEARER-4,model=m", "BEARER-4"),
        ("header=Authorization: Bearer bt-5XYZ,model=m", "bt-5XYZ"),
        ("base_url=https://user:pw-6@host/v1,model=m", "user:pw-6"),
        ("x-api-key=KEY-7,model=m", "KEY-7"),
    ],
)
def test_one_rule_finds_keys_url_credentials_and_query_secrets(args: str, secret: str) -> None:
    scrubbed = scrub_model_args(args)
    assert secret not in scrubbed and scrubbed.endswith("model=m")
    assert secret in secret_values(args)
    assert redact_values({"echo": [f"called with {args}"]}, secret_values(args)) == {
        "echo": [f"called with {args}".replace(secret, REDACTED)]
    }


def test_ordinary_query_parameters_and_words_are_kept() -> None:
    args = "base_url=https://h/v1?deployment=gpt&api-version=2024-06,tokenized_requests=true"
    assert scrub_model_args(args) == args
    assert secret_values(args) == []
    assert is_secret_key("bearer") and is_secret_key("api-key")
    assert not is_secret_key("tokenized_requests") and not is_secret_key("monkey")
    # A flag like auth=true is dropped from model_args, but "true" is not a secret to
    # hunt down in every string of a results file.
    assert scrub_model_args("auth=true,model=m") == "model=m"
    assert secret_values("auth=true,token=ab") == []
