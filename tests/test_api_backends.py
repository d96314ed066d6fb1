"""API teachers and API judges, end to end, against a local OpenAI-compatible server.

The paper's ``gpt-4o-mini`` teacher runs through lm-eval's ``openai-chat-completions``
client, which needs lm-eval's ``api`` extra; a fresh install without it failed with
``ModuleNotFoundError: tenacity``. These tests drive the real lm-eval API clients
(``local-chat-completions`` and ``openai-chat-completions``) through ``generate``,
``collect`` and the rubric judge, with :mod:`api_server` standing in for the API.
``generate`` runs them as our ``polyglot-*`` subclasses, which send generate/translate
requests the pair's JSON schema as ``response_format`` (the paper's schema-guided
decoding) and respond requests none.
"""

from __future__ import annotations

import json
import re
import secrets
import sys
from collections.abc import Iterator
from importlib.metadata import distribution, requires
from pathlib import Path

import pytest
from api_server import JUDGE_SCORE, PAIRS, OpenAIStubServer

from harness.cli.main import main
from harness.protocol import PAIR_SCHEMA, SCHEMA_DOC_KEY

LIMIT = 1  # documents per task: 3 strategies -> 3 rows


@pytest.fixture(scope="module")
def api_key() -> Iterator[str]:
    """A fresh fake key in ``OPENAI_API_KEY``, where lm-eval's API clients read it."""
    key = f"sk-test-{secrets.token_hex(12)}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPENAI_API_KEY", key)
        yield key


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIStubServer]:
    with OpenAIStubServer() as stub:
        yield stub


def _api_args(model: str, url: str) -> str:
    return f"model={model},base_url={url},num_concurrent=1,max_retries=1,tokenized_requests=False"


@pytest.fixture(scope="module")
def collected(
    tmp_path_factory: pytest.TempPathFactory, server: OpenAIStubServer, api_key: str
) -> Path:
    """``generate`` with the ``local-chat-completions`` teacher, then ``collect``."""
    root = tmp_path_factory.mktemp("api_run")
    code = main([
        "generate", "--model", "local-chat-completions",
        "--model-args", _api_args("stub-teacher", server.chat_url),
        "--languages", "de", "--limit", str(LIMIT), "--out", str(root / "runs"),
    ])  # fmt: skip
    assert code == 0
    assert main(["collect", str(root / "runs"), "--out", str(root / "data")]) == 0
    return root


PAIR_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "pair", "schema": PAIR_SCHEMA, "strict": True},
}


def _files_holding(root: Path, needle: str) -> list[Path]:
    data = needle.encode("utf-8")
    return [p for p in root.rglob("*") if p.is_file() and data in p.read_bytes()]


def test_api_teacher_generates_valid_rows(collected: Path, server: OpenAIStubServer) -> None:
    from harness.collect import load_collected

    teacher_requests = [r for r in server.requests if r.body.get("model") == "stub-teacher"]
    assert len(teacher_requests) == 3 * LIMIT
    for request in teacher_requests:
        assert request.path == "/v1/chat/completions"
        roles = [m["role"] for m in request.body["messages"]]
        assert roles == ["system", "user"]  # the task's system prompt is a real system turn
    [path] = (collected / "data").rglob("data.parquet")
    rows = load_collected(path)
    assert len(rows) == 3 * LIMIT
    assert {r["strategy"] for r in rows} == {"generate", "translate", "respond"}
    assert all(rows["valid"]) and set(rows["language"]) == {"de"}
    assert all(r["response"] and r["prompt"] for r in rows)


def test_api_teacher_gets_the_pair_schema_for_generate_and_translate_only(
    collected: Path, server: OpenAIStubServer
) -> None:
    from harness.generate.docs import build_docs

    # The run's first document of each strategy (the protocol builds 10,000 per task).
    strategy_of = {
        build_docs("de", s, n_docs=10_000)[0]["user_prompt"]: s
        for s in ("generate", "translate", "respond")
    }
    sent = {}
    for request in server.requests:
        if request.body.get("model") == "stub-teacher":
            sent[strategy_of[request.body["messages"][1]["content"]]] = request.body
    assert set(sent) == {"generate", "translate", "respond"}
    assert sent["generate"]["response_format"] == PAIR_FORMAT
    assert sent["translate"]["response_format"] == PAIR_FORMAT
    assert "response_format" not in sent["respond"]
    assert {b["max_tokens"] for b in sent.values()} == {4096}  # no cap but the context
    [record] = list((collected / "runs").rglob("polyglot_run.json"))
    meta = json.loads(record.read_text(encoding="utf-8"))
    assert meta["lm_eval_model"] == "polyglot-local-chat-completions"
    assert meta["structured_output"] is True
    assert meta["protocol"]["deviations"] == {"limit": LIMIT}


def test_openai_client_sends_response_format_only_for_schema_docs(
    server: OpenAIStubServer, api_key: str
) -> None:
    from lm_eval.api.instance import Instance
    from lm_eval.api.registry import get_model

    from harness.autoload import register_models
    from harness.generate.parse import extract_pair

    register_models()
    lm = get_model("polyglot-openai-chat-completions").create_from_arg_string(
        f"model=gpt-4o-mini-2024-07-18,base_url={server.chat_url},max_retries=1", {}
    )
    chat = lm.apply_chat_template([
        {"role": "system", "content": "You are a fluent, native-level expert in German."},
        {"role": "user", "content": "Wie heißt die Hauptstadt von Bayern?"},
    ])  # fmt: skip
    gen = {"until": [], "max_gen_toks": 64}
    requests = [
        Instance("generate_until", {SCHEMA_DOC_KEY: PAIR_SCHEMA}, (chat, dict(gen)), 0),
        Instance("generate_until", {}, (chat, dict(gen)), 1),
        Instance("generate_until", {SCHEMA_DOC_KEY: None}, (chat, dict(gen)), 2),
    ]
    before = len(server.requests)
    guided, plain, empty = lm.generate_until(requests, disable_tqdm=True)
    bodies = [r.body for r in server.requests[before:]]
    assert [b.get("response_format") for b in bodies].count(PAIR_FORMAT) == 1
    assert sum("response_format" in b for b in bodies) == 1
    assert all(b["max_completion_tokens"] == 64 for b in bodies)
    assert extract_pair(guided).ok  # the same question, answered as a pair under the schema
    assert not extract_pair(plain).ok and not extract_pair(empty).ok


def test_api_key_is_sent_in_the_header_and_never_written(
    collected: Path, server: OpenAIStubServer, api_key: str
) -> None:
    assert server.requests
    assert {r.headers.get("Authorization") for r in server.requests} == {f"Bearer {api_key}"}
    assert list(collected.rglob("results_*.json")) and list(collected.rglob("samples_*.jsonl"))
    assert _files_holding(collected, api_key) == []


def test_api_judge_gives_rubric_scores(
    collected: Path, server: OpenAIStubServer, api_key: str, tmp_path: Path
) -> None:
    from harness.intrinsic.rubrics import JUDGE_SCHEMA
    from harness.intrinsic.run import compute_intrinsic, read_summary

    judge = "local-chat-completions:" + _api_args("stub-judge", server.chat_url)
    compute_intrinsic(
        collected / "data", tmp_path / "metrics", metrics=("judge",), judge=judge, progress=False
    )
    [row] = read_summary(tmp_path / "metrics")
    assert row["rubric_score"] == JUDGE_SCORE and row["judge_parse_rate"] == 1.0
    assert row["n_judged"] == 3 * LIMIT and row["n_unparseable"] == 0
    judged = [r for r in server.requests if r.body.get("model") == "stub-judge"]
    assert len(judged) == 3 * LIMIT
    # The paper's judge: one raw prompt (no system turn), its answer held to the schema.
    [message] = judged[0].body["messages"]
    assert message["role"] == "user" and "German" in message["content"]
    assert judged[0].body["response_format"]["json_schema"]["schema"] == JUDGE_SCHEMA
    assert _files_holding(tmp_path, api_key) == []


def test_registry_gpt_4o_mini_instantiates_in_lm_eval(api_key: str) -> None:
    from lm_eval.api.registry import get_model

    from harness.teachers import get_teacher

    spec = get_teacher("gpt-4o-mini")
    assert spec.backend == "openai-chat-completions" and spec.api
    assert spec.lm_eval_model_args() == "model=gpt-4o-mini-2024-07-18"
    # Building the client makes no request (no tokenizer download, no model listing).
    lm = get_model(spec.backend).create_from_arg_string(spec.lm_eval_model_args(), {})
    assert lm.model == spec.id
    assert lm.base_url == "https://api.openai.com/v1/chat/completions"
    assert lm.header == {"Authorization": f"Bearer {api_key}"}


def test_registry_api_teacher_answers_through_lm_eval(
    server: OpenAIStubServer, api_key: str, tmp_path: Path
) -> None:
    """The registry's gpt-4o-mini entry, pointed at the local server, answers a prompt.

    Calls the real ``openai-chat-completions`` client's ``generate_until`` (payload,
    request, retry wrapper, answer parsing) without a whole ``generate`` run, whose
    task indexing would double this file's time.
    """
    import yaml
    from lm_eval.api.instance import Instance
    from lm_eval.api.registry import get_model

    from harness.generate.parse import extract_pair
    from harness.generate.prompts import system_prompt, translate_prompt
    from harness.languages import get_language
    from harness.paths import teachers_path
    from harness.teachers import load_teachers

    entry = yaml.safe_load(teachers_path().read_text(encoding="utf-8"))["teachers"]["gpt-4o-mini"]
    entry["model_args"] = {"base_url": server.chat_url, "max_retries": 1}
    registry = tmp_path / "teachers.yaml"
    registry.write_text(yaml.safe_dump({"teachers": {"gpt-4o-mini": entry}}), encoding="utf-8")
    spec = load_teachers(registry)["gpt-4o-mini"]
    lm = get_model(spec.backend).create_from_arg_string(spec.lm_eval_model_args(), {})
    german = get_language("de")
    chat = lm.apply_chat_template([
        {"role": "system", "content": system_prompt(german)},
        {"role": "user", "content": translate_prompt(german, "Why do leaves turn red?")},
    ])  # fmt: skip
    request = Instance("generate_until", {}, (chat, {"until": [], "max_gen_toks": 64}), 0)
    before = len(server.requests)
    [answer] = lm.generate_until([request], disable_tqdm=True)
    [sent] = server.requests[before:]
    assert (
        sent.body["model"] == "gpt-4o-mini-2024-07-18" and sent.body["max_completion_tokens"] == 64
    )
    assert sent.headers.get("Authorization") == f"Bearer {api_key}"
    pair = extract_pair(answer)
    assert pair.ok and (pair.prompt, pair.response) in PAIRS["German"]


def test_lm_eval_api_extra_is_a_dependency() -> None:
    """pyproject asks for lm-eval's ``api`` extra, and everything it names is installed."""
    if sys.version_info < (3, 11):
        pytest.skip("tomllib needs Python 3.11")
    import tomllib

    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    deps = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    [lm_eval_dep] = [d for d in deps if re.match(r"lm[-_]eval\b", d)]
    extras = re.search(r"\[([^\]]*)\]", lm_eval_dep)
    assert extras and "api" in {e.strip() for e in extras.group(1).split(",")}
    api_reqs = [r for r in requires("lm_eval") or [] if re.search(r"extra\s*==\s*.api.", r)]
    assert api_reqs
    for req in api_reqs:
        name = re.match(r"[A-Za-z0-9_.-]+", req).group(0)
        assert distribution(name)  # raises PackageNotFoundError when missing
