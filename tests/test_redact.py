"""Credentials never survive into what the harness writes."""

from __future__ import annotations

from harness.redact import is_secret_key, scrub_model_args


def test_secret_keys_go_and_ordinary_keys_stay() -> None:
    args = "model=gpt-4o-mini,api_key=sk-123,tokenizer=org/tok,max_tokens=512,hf_token=hf_x"
    assert scrub_model_args(args) == "model=gpt-4o-mini,tokenizer=org/tok,max_tokens=512"
    assert scrub_model_args({"pretrained": "x", "token": "t"}) == "pretrained=x"
    assert not is_secret_key("tokenizer") and is_secret_key("OPENAI_API_KEY")


def test_url_credentials_are_redacted() -> None:
    out = scrub_model_args("base_url=https://user:pw@host/v1/chat,model=m")
    assert out == "base_url=https://<redacted>@host/v1/chat,model=m"
    assert "pw" not in out
