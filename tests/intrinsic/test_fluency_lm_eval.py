"""Fluency as the ``polyglot_fluency`` lm-eval task: the same per-row values as transformers.

Prompt-masked per-row perplexity is lm-eval's ``loglikelihood(prompt, response)`` divided
by the response's token count; every test runs real lm-eval on a real tiny Llama.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.intrinsic.fluency import score_perplexities
from harness.intrinsic.fluency_lm_eval import (
    TASK_NAME,
    load_reference_lm,
    score_perplexities_lm_eval,
)

PER_ROW = "paper+per_row_fluency"

# Lengths from a few tokens to a few hundred, several scripts, one prompt ending in a space.
PROMPTS = [
    "Wie viele Äpfel bleiben übrig?",
    "The quick brown fox",
    "Answer the question step by step and give the final number. " * 4,
    "素早い茶色の狐がのろまな犬を飛び越える。",
    "x",
    "Rubah cokelat yang cepat melompati anjing yang malas.",
]
RESPONSES = [
    " Es bleiben 3 Äpfel übrig.",
    " jumps over the lazy dog. " * 12,
    "42",
    " りんごはいくつ残っていますか？",
    " Der schnelle braune Fuchs springt über den faulen Hund.",
    " Berapa apel yang tersisa? " * 3,
]


@pytest.fixture(scope="module")
def reference(tiny_model_dir: Path):
    """(transformers model, tokenizer, lm-eval hf model) of the same tiny Llama on disk."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype="float32").eval()
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    lm = load_reference_lm(
        "hf", str(tiny_model_dir), "dtype=float32", max_length=4096, batch_size=2, device="cpu"
    )
    return model, tok, lm


def test_lm_eval_per_row_fluency_equals_the_transformers_per_row_values(reference) -> None:
    model, tok, lm = reference
    lengths = [len(tok(p + r)["input_ids"]) for p, r in zip(PROMPTS, RESPONSES, strict=True)]
    assert max(lengths) > 5 * min(lengths)  # rows of very different lengths share batches
    want = score_perplexities(
        model, tok, PROMPTS, RESPONSES, batch_size=3, progress=False, protocol=PER_ROW
    )
    got = score_perplexities_lm_eval(lm, PROMPTS, RESPONSES)
    assert not any(math.isnan(v) for v in want.values)
    assert got.values == pytest.approx(want.values, rel=1e-5)
    assert got.tokens == want.tokens and got.n_nan == 0 and not got.batch_mean
    assert got.mean == pytest.approx(want.mean, rel=1e-5)


def test_prompts_trailing_space_is_scored_with_the_response(reference) -> None:
    """lm-eval moves a prompt's trailing whitespace into the continuation; so does per-row."""
    import torch

    model, tok, lm = reference
    prompt, response = "Answer the question step by step. ", "The number is 42."
    ids = tok(prompt + response)["input_ids"]
    first = len(tok(prompt.rstrip())["input_ids"])  # the space's token is the response's
    assert first < len(tok(prompt)["input_ids"])  # alone, the space is a token of its own
    labels = [-100] * first + ids[first:]
    with torch.no_grad():
        loss = model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels])).loss
    want = math.exp(loss.item())
    per_row = score_perplexities(model, tok, [prompt], [response], progress=False, protocol=PER_ROW)
    assert per_row.values == pytest.approx([want], rel=1e-5)
    assert score_perplexities_lm_eval(lm, [prompt], [response]).values == pytest.approx(
        [want], rel=1e-5
    )


def test_task_request_is_the_prompt_then_the_response_and_its_metric_is_per_row(
    tmp_path: Path, reference
) -> None:
    """Run the task as a user would, on a rows file: context and continuation verbatim."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    from harness.intrinsic.fluency_lm_eval import encoded_lengths
    from harness.paths import tasks_path

    _, _, lm = reference
    counts = [encoded_lengths(lm, p, r)[1] for p, r in zip(PROMPTS, RESPONSES, strict=True)]
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        "".join(
            json.dumps({"prompt": p, "response": r, "n_tokens": n}) + "\n"
            for p, r, n in zip(PROMPTS, RESPONSES, counts, strict=True)
        )
    )
    manager = TaskManager(
        include_path=str(tasks_path()), include_defaults=False,
        metadata={"fluency_data": str(rows)},
    )  # fmt: skip
    out = simple_evaluate(
        model=lm, tasks=[TASK_NAME], task_manager=manager, log_samples=True, bootstrap_iters=0
    )
    samples = sorted(out["samples"][TASK_NAME], key=lambda s: s["doc"]["row_index"])
    assert [tuple(s["arguments"][0]) for s in samples] == list(zip(PROMPTS, RESPONSES, strict=True))
    lls = [s["resps"][0][0][0] for s in samples]
    hand = [math.exp(-ll / n) for ll, n in zip(lls, counts, strict=True)]
    assert [s["perplexity"] for s in samples] == pytest.approx(hand)
    result = out["results"][TASK_NAME]
    assert result["perplexity,none"] == pytest.approx(sum(hand) / len(hand))
    assert result["loglikelihood,none"] == pytest.approx(sum(lls) / len(lls))
    assert hand == pytest.approx(score_perplexities_lm_eval(lm, PROMPTS, RESPONSES).values)


def test_task_reads_the_valid_rows_of_a_collected_dataset(tmp_path: Path, write_collected) -> None:
    from lm_eval.tasks import TaskManager

    from harness.paths import tasks_path

    data = write_collected(
        tmp_path / "t" / "de", [("Frage?", " Antwort."), ("", ""), ("F2", " A2")]
    )
    manager = TaskManager(
        include_path=str(tasks_path()), include_defaults=False,
        metadata={"fluency_data": str(data.parent)},
    )  # fmt: skip
    task = manager.load([TASK_NAME])["tasks"][TASK_NAME]
    docs = list(task.test_docs())
    assert [d["row_index"] for d in docs] == [0, 2]  # the invalid row is not scored
    assert task.doc_to_text(docs[0]) == "Frage?" and task.doc_to_target(docs[0]) == " Antwort."
    no_count = task.process_results(docs[0], [(-6.0, False)])
    assert no_count["loglikelihood"] == -6.0 and math.isnan(no_count["perplexity"])


def test_rows_over_max_length_keep_lm_evals_rule(tiny_model_dir: Path, reference) -> None:
    """The prompt is cut from the left; a response that alone does not fit is NaN."""
    import torch

    model, _, _ = reference
    lm = load_reference_lm(
        "hf", str(tiny_model_dir), "dtype=float32", max_length=24, batch_size=2, device="cpu"
    )
    prompt, short, long = "The quick brown fox " * 6, " jumps.", " jumps over the lazy dog." * 6
    got = score_perplexities_lm_eval(lm, [prompt, "Frage", "Frage"], [short, long, ""])
    assert got.n_truncated == 2 and got.n_nan == 2  # the empty response is NaN, not cut
    assert math.isnan(got.values[1]) and math.isnan(got.values[2])
    context, continuation = lm._encode_pair(prompt, short)
    window = (context + continuation)[-25:]  # lm-eval keeps the last max_length + 1 tokens
    with torch.no_grad():
        logprobs = torch.log_softmax(model(torch.tensor([window[:-1]])).logits[0].float(), -1)
    n = len(continuation)
    targets = window[-n:]
    ll = sum(float(logprobs[len(window) - 1 - n + k, t]) for k, t in enumerate(targets))
    assert got.values[0] == pytest.approx(math.exp(-ll / n), rel=1e-5)


def _counting_hflm(path: Path):
    """A real HFLM that records how many requests reach the model on each call."""
    from lm_eval.models.huggingface import HFLM

    class Counting(HFLM):
        def _loglikelihood_tokens(self, requests, disable_tqdm=False, override_bs=None):
            self.scored.append(len(requests))
            return super()._loglikelihood_tokens(requests, disable_tqdm, override_bs)

    lm = Counting(pretrained=str(path), dtype="float32", batch_size=2, device="cpu")
    lm.scored = []
    return lm


def test_lm_evals_request_cache_resumes_without_rescoring(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    lm = _counting_hflm(tiny_model_dir)
    cache = tmp_path / ".fluency.partial-key"
    first = score_perplexities_lm_eval(lm, PROMPTS[:3], RESPONSES[:3], cache=cache)
    assert lm.scored == [3] and list(tmp_path.glob(".fluency.partial-key_rank*.db"))
    again = score_perplexities_lm_eval(lm, PROMPTS, RESPONSES, cache=cache)  # "after a kill"
    assert lm.scored == [3, 3]  # only the three rows not in the cache reached the model
    assert again.values[:3] == pytest.approx(first.values)


# --- options, cache keys and the stage ----------------------------------------------------


def test_paper_fluency_refuses_the_lm_eval_path() -> None:
    from harness.intrinsic.compute import IntrinsicOptions

    for bad in ({"fluency_backend": "lm-eval"}, {"fluency_model": "vllm"},
                {"fluency_model_args": "dtype=bfloat16"}):  # fmt: skip
        with pytest.raises(ConfigError, match=r"batch-mean fluency .* transformers only"):
            IntrinsicOptions(reference_lm="r", **bad)
    with pytest.raises(ConfigError, match="did you mean lm-eval"):
        IntrinsicOptions(fluency_backend="lm_eval", protocol="corrected")
    with pytest.raises(ConfigError, match="configure the lm-eval path"):
        IntrinsicOptions(fluency_backend="transformers", fluency_model="vllm", protocol="corrected")
    assert IntrinsicOptions(reference_lm="r").fluency_path() == "transformers"
    per_row = {"reference_lm": "r", "protocol": "corrected"}
    assert IntrinsicOptions(**per_row).fluency_path() == "transformers"  # faster on CPU
    assert IntrinsicOptions(**per_row, fluency_model="vllm").fluency_path() == "lm-eval"
    assert IntrinsicOptions(**per_row, fluency_backend="lm-eval").fluency_path() == "lm-eval"


def test_fluency_cache_keys_the_lm_eval_spec_not_the_backend() -> None:
    from harness.intrinsic.compute import IntrinsicOptions, params_for

    def key(**kw) -> dict:
        options = IntrinsicOptions(reference_lm="r", protocol="corrected", **kw)
        return params_for("fluency", options, "de", "rows")

    same = key(fluency_backend="transformers")
    assert key(fluency_backend="lm-eval") == same == key()  # equal values: one cache
    assert key(fluency_model="vllm") != same  # another backend's kernels: its own cache
    assert key(fluency_backend="lm-eval", fluency_model_args="dtype=bfloat16") != same


def test_stage_fluency_through_lm_eval_equals_transformers_and_shares_its_cache(
    tmp_path: Path, tiny_model_dir: Path, caplog: pytest.LogCaptureFixture, write_collected
) -> None:
    import pyarrow.parquet as pq

    from harness.intrinsic.run import compute_intrinsic, read_summary

    caplog.set_level(logging.INFO, logger="harness.intrinsic.run")
    data = tmp_path / "data"
    write_collected(data / "org__t" / "de", list(zip(PROMPTS, RESPONSES, strict=True)))
    options = {
        "metrics": ("fluency",), "reference_lm": str(tiny_model_dir), "protocol": "corrected",
        "fluency_batch_size": 2, "device": "cpu", "progress": False,
    }  # fmt: skip
    compute_intrinsic(data, tmp_path / "a", fluency_backend="lm-eval", **options)
    compute_intrinsic(data, tmp_path / "b", fluency_backend="transformers", **options)
    a, b = read_summary(tmp_path / "a")[0], read_summary(tmp_path / "b")[0]
    assert a["perplexity"] == pytest.approx(b["perplexity"], rel=1e-5)
    rows = [pq.read_table(tmp_path / x / "org__t" / "de" / "fluency_rows.parquet") for x in "ab"]
    assert rows[0]["perplexity"].to_pylist() == pytest.approx(rows[1]["perplexity"].to_pylist())
    assert not list((tmp_path / "a").rglob(".fluency.partial*"))  # the request cache went
    caplog.clear()
    compute_intrinsic(data, tmp_path / "a", fluency_backend="transformers", **options)
    assert "computed fluency" not in caplog.text  # same values, so the same cache
