"""Schema-guided JSON pairs, as the paper's generation ran, through real lm-eval runs.

generate and translate documents carry the pair's JSON schema; ``polyglot-hf`` decodes
them under it (xgrammar), respond documents in the same batch stay free text, plain
``hf`` is left unguided. The protocol's defaults and the deviations of a run are
recorded in ``polyglot_run.json``.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ConfigError
from harness.generate.runner import GenerationConfig, run_generation
from harness.protocol import PAIR_SCHEMA, SCHEMA_DOC_KEY

SMOLLM_TOKENS = 128  # enough for most SmolLM2 pairs to close; a cut one must be a prefix


def _samples(root: Path, task: str) -> list[dict[str, Any]]:
    rows = []
    for path in sorted(root.rglob(f"samples_{task}_*.jsonl")):
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return sorted(rows, key=lambda r: r["doc_id"])


def _output(sample: dict[str, Any]) -> str:
    return sample["resps"][0][0]


def _pair_matcher(model_dir: Path) -> Any:
    """A checker for "a prefix of a pair object", from the schema and xgrammar alone."""
    import xgrammar as xgr
    from transformers import AutoTokenizer

    info = xgr.TokenizerInfo.from_huggingface(AutoTokenizer.from_pretrained(model_dir))
    grammar = xgr.GrammarCompiler(info).compile_json_schema(PAIR_SCHEMA, any_whitespace=False)

    def is_prefix(text: str) -> bool:
        return xgr.GrammarMatcher(grammar, terminate_without_stop_token=True).accept_string(text)

    return is_prefix


def _complete_pair(text: str) -> bool:
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return (
        isinstance(value, dict)
        and set(value) == {"prompt", "response"}
        and all(isinstance(v, str) for v in value.values())
    )


# ---- the mechanism, on the tiny random model (cheap) ----------------------------------


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    """generate + respond documents in one chunk, so in one generate_until call."""
    out = tmp_path_factory.mktemp("structured_mixed")
    config = GenerationConfig(
        model="hf", model_args=f"pretrained={tiny_model_dir},dtype=float32",
        languages=["de"], strategies=["generate", "respond"], limit=2, n_docs=3,
        max_gen_toks=24, batch_size=4, device="cpu",
    )  # fmt: skip
    run_generation(config, out)
    return out


def test_generate_docs_are_decoded_under_the_pair_schema(
    mixed_run: Path, tiny_model_dir: Path
) -> None:
    is_prefix = _pair_matcher(tiny_model_dir)
    samples = _samples(mixed_run, "polyglot_generate_de")
    assert len(samples) == 2
    for sample in samples:
        assert sample["doc"][SCHEMA_DOC_KEY] == PAIR_SCHEMA
        # A random-init model writes noise, yet the grammar holds it to the pair's shape
        # (24 tokens rarely close the object, so the check is "a valid prefix").
        assert _output(sample).startswith('{"prompt": "')
        assert is_prefix(_output(sample)), _output(sample)
        # lm-eval logs the task's own generation kwargs: the schema travels in the doc.
        assert set(sample["arguments"]["gen_args_0"]["arg_1"]) >= {"max_gen_toks", "top_p"}
        assert "polyglot_json_schema" not in sample["arguments"]["gen_args_0"]["arg_1"]


def test_respond_docs_in_the_same_batch_are_not_constrained(
    mixed_run: Path, tiny_model_dir: Path
) -> None:
    is_prefix = _pair_matcher(tiny_model_dir)
    samples = _samples(mixed_run, "polyglot_respond_de")
    assert len(samples) == 2
    for sample in samples:
        assert SCHEMA_DOC_KEY not in sample["doc"]
        assert not is_prefix(_output(sample)), _output(sample)


def test_run_record_names_protocol_and_deviations(mixed_run: Path) -> None:
    [path] = list(mixed_run.rglob("polyglot_run.json"))
    record = json.loads(path.read_text(encoding="utf-8"))
    assert path.parent == next(mixed_run.rglob("results_*.json")).parent
    assert record["role"] == "teacher" and record["lm_eval_model"] == "polyglot-hf"
    assert record["structured_output"] is True
    assert record["protocol"] == {
        "name": "paper",
        "corrections": [],
        # the paper: every one of 10,000 documents, no cap but the serving context (4,096)
        "deviations": {"limit": 2, "max_gen_toks": 24, "n_docs": 3},
    }


def test_new_tokens_are_bounded_by_what_the_context_leaves(
    tiny_model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """No cap of its own (4,096) on a model whose context is 300: the prompt is kept whole.

    lm-eval's plain ``hf`` refuses a max_gen_toks that is not below the context.
    """
    from lm_eval.api.instance import Instance
    from lm_eval.api.registry import get_model
    from transformers import AutoTokenizer

    from harness.autoload import register_models

    register_models()
    args = f"pretrained={tiny_model_dir},dtype=float32,max_length=300"
    prompt = "Der schnelle braune Fuchs springt über den faulen Hund. " * 4
    n_prompt = len(AutoTokenizer.from_pretrained(tiny_model_dir)(prompt)["input_ids"])
    gen = {"until": [], "do_sample": False, "max_gen_toks": 4096}
    request = Instance("generate_until", {}, (prompt, gen), 0)
    plain = get_model("hf").create_from_arg_string(args, {"device": "cpu", "batch_size": 1})
    with pytest.raises(AssertionError, match="must be less than"):
        plain.generate_until([request], disable_tqdm=True)
    ours = get_model("polyglot-hf").create_from_arg_string(args, {"device": "cpu", "batch_size": 1})
    with caplog.at_level(logging.INFO, logger="harness.models.structured"):
        [answer] = ours.generate_until([request], disable_tqdm=True)
    assert isinstance(answer, str)
    assert f"context of 300 tokens leaves after the prompt (lowest {300 - n_prompt})" in caplog.text
    assert request.args[1]["max_gen_toks"] == 4096  # the logged request is untouched


# ---- the real small teacher: guided vs plain ------------------------------------------


@pytest.fixture(scope="module")
def smollm_outputs(
    tmp_path_factory: pytest.TempPathFactory, smollm2_dir: Path
) -> dict[str, list[str]]:
    """The same two generate documents through polyglot-hf (the runner) and plain hf."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    from harness.paths import tasks_path

    out = tmp_path_factory.mktemp("structured_smollm")
    args = f"pretrained={smollm2_dir},dtype=float32"
    config = GenerationConfig(
        model="hf", model_args=args, languages=["de"], strategies=["generate"], limit=2,
        n_docs=2, max_gen_toks=SMOLLM_TOKENS, batch_size=2, device="cpu",
    )  # fmt: skip
    run_generation(config, out)
    guided = [_output(s) for s in _samples(out, "polyglot_generate_de")]
    metadata = {"seed": config.seed, "n_docs": 2, "protocol": config.protocol}
    manager = TaskManager(include_path=str(tasks_path()), include_defaults=False, metadata=metadata)
    results = simple_evaluate(
        model="hf", model_args=args, tasks=["polyglot_generate_de"], limit=2, device="cpu",
        batch_size=2, apply_chat_template=True, log_samples=True, task_manager=manager,
        gen_kwargs=f"max_gen_toks={SMOLLM_TOKENS}", metadata=metadata,
    )  # fmt: skip
    plain = [s["resps"][0][0] for s in sorted(results["samples"]["polyglot_generate_de"],
                                                key=lambda s: s["doc_id"])]  # fmt: skip
    return {"guided": guided, "plain": plain}


def test_smollm2_pairs_are_json_under_the_schema_and_mostly_not_without(
    smollm_outputs: dict[str, list[str]], smollm2_dir: Path
) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    is_prefix = _pair_matcher(smollm2_dir)
    guided, plain = smollm_outputs["guided"], smollm_outputs["plain"]
    assert len(guided) == len(plain) == 2
    for text in guided:
        assert is_prefix(text), text
        if not _complete_pair(text):
            # Only the token budget may stop a pair before it closes.
            assert len(tokenizer(text)["input_ids"]) >= SMOLLM_TOKENS * 0.9, text
    guided_share = sum(map(is_prefix, guided)) / len(guided)
    plain_share = sum(map(is_prefix, plain)) / len(plain)
    assert guided_share == 1.0 and plain_share < guided_share, plain


# ---- registration and configuration --------------------------------------------------


def test_plain_lm_eval_cli_runs_polyglot_hf(tmp_path: Path, tiny_model_dir: Path) -> None:
    """A fresh ``lm_eval`` process knows polyglot-hf (registered by the autoload hook)."""
    out = tmp_path / "cli"
    command = [
        sys.executable, "-m", "lm_eval", "run", "--model", "polyglot-hf",
        "--model_args", f"pretrained={tiny_model_dir},dtype=float32", "--device", "cpu",
        "--tasks", "polyglot_generate_de", "--limit", "1", "--apply_chat_template",
        "--gen_kwargs", "max_gen_toks=8", "--metadata", '{"n_docs": 1}',
        "--output_path", str(out), "--log_samples",
    ]  # fmt: skip
    subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, check=True, timeout=600)
    [sample] = _samples(out, "polyglot_generate_de")
    assert _output(sample).startswith('{"prompt": "')


PROBE = """
import json
from lm_eval import simple_evaluate  # what lm_eval's CLI imports before get_model
from lm_eval.api.registry import get_model, model_registry
names = ["hf", "local-chat-completions", "polyglot-hf",
         "polyglot-local-chat-completions", "polyglot-openai-chat-completions"]
found = {n: get_model(n).__name__ for n in names}
found["vllm"] = "vllm" in model_registry and "polyglot-vllm" in model_registry
print(json.dumps(found))
"""


def test_registration_keeps_lm_eval_builtin_backends() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=300
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {
        "hf": "HFLM",
        "vllm": True,  # both registered; resolved (importing vLLM) only when asked for
        "local-chat-completions": "LocalChatCompletion",
        "polyglot-hf": "StructuredHFLM",
        "polyglot-local-chat-completions": "StructuredLocalChatCompletion",
        "polyglot-openai-chat-completions": "StructuredOpenAIChatCompletion",
    }


def test_polyglot_vllm_without_vllm_is_a_one_line_error() -> None:
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed")
    from lm_eval.api.registry import get_model

    from harness.autoload import register_models
    from harness.errors import MissingRequirementError

    register_models()
    with pytest.raises(MissingRequirementError, match=r"polyglot-vllm needs vLLM .*pip install"):
        get_model("polyglot-vllm")


def test_structured_output_resolves_per_backend(caplog: pytest.LogCaptureFixture) -> None:
    assert GenerationConfig(model="hf").lm_eval_model() == "polyglot-hf"
    assert GenerationConfig(model="hf").structured is True
    api = GenerationConfig(model="openai-chat-completions")
    assert api.lm_eval_model() == "polyglot-openai-chat-completions" and api.structured
    off = GenerationConfig(model="hf", structured_output=False)
    assert not off.structured and off.deviations() == {"structured_output": False}
    other = GenerationConfig(model="local-completions")
    assert other.lm_eval_model() is None and not other.structured
    assert other.deviations() == {"structured_output": False}
    with pytest.raises(ConfigError, match="not available for model type 'local-completions'"):
        GenerationConfig(model="local-completions", structured_output=True)


def test_protocol_defaults_are_no_deviation() -> None:
    config = GenerationConfig(model="hf")
    assert config.docs_per_task == 10_000 and config.new_tokens == 4_096
    assert config.deviations() == {}
    assert config.protocol_record() == {"name": "paper", "corrections": [], "deviations": {}}
    # Settings equal to the protocol's are no deviation either.
    same = GenerationConfig(model="hf", n_docs=10_000, max_gen_toks=4_096, limit=10_000)
    assert same.deviations() == {}
    assert GenerationConfig(protocol="corrected").protocol == "corrected"


def test_unknown_protocol_is_a_one_line_error(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.cli.main import main

    with pytest.raises(ConfigError, match="unknown protocol 'papr'"):
        GenerationConfig(protocol="papr")
    code = main([
        "generate", "--model-args", f"pretrained={tiny_model_dir}", "--protocol", "papr",
        "--out", str(tmp_path),
    ])  # fmt: skip
    assert code == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "unknown protocol 'papr'" in line and not list(tmp_path.iterdir())


def test_cli_flags_reach_the_config() -> None:
    from harness.cli.main import make_parser

    parser = make_parser()
    from harness.cli.flags import build

    args = parser.parse_args(["generate", "--model-args", "pretrained=x"])
    assert "protocol" not in vars(args) and "structured_output" not in vars(
        args
    )  # the config decides
    assert build(GenerationConfig, args).protocol == "paper"
    args = parser.parse_args([
        "generate", "--model-args", "pretrained=x", "--no-structured-output",
        "--protocol", "paper+greedy_mgsm", "--temperature", "2",
    ])  # fmt: skip
    assert args.structured_output is False
    config = build(GenerationConfig, args)
    assert config.protocol == "paper+greedy_mgsm" and not config.structured
    assert config.deviations()["temperature"] == 2.0
