"""Fluency through lm-eval: each row is one ``loglikelihood(prompt, response)`` request.

Prompt-masked per-row perplexity is exactly what lm-eval's loglikelihood computes: the sum
of the response tokens' log-probabilities given the prompt. Running it as the
``polyglot_fluency`` task lets any lm-eval backend (``hf``, ``vllm``, ...) score the rows,
with lm-eval's own length sorting, batching and request cache (a killed run resumes row by
row from that cache). A row's perplexity is ``exp(-loglikelihood / n)``, ``n`` the number of
response tokens as the backend itself encodes the pair (``_encode_pair``: the joint text,
minus the prompt's tokens), so the values equal the transformers path's per-row values
(:func:`harness.intrinsic.fluency.score_perplexities` under ``per_row_fluency``) on the same
model, up to float noise.

Only the per-row rule can be asked this way. The paper's rule gives every row its padded
batch's mean loss, pads included, which depends on how rows are padded together inside a
batch: no loglikelihood request expresses it, so it stays on the transformers path.

Where the two paths differ, by design of each backend:

* a row longer than ``max_length`` tokens: lm-eval cuts the prompt from the left and
  scores the whole response (a response that alone does not fit is not sent: NaN); the
  transformers path keeps the first ``max_length`` tokens. Both count the row in
  ``n_truncated``; with the protocol's 16,384 tokens and a 4,096-token serving context no
  generated row gets there;
* an empty prompt, on a tokenizer that adds no BOS: lm-eval conditions on its prefix token
  and scores every response token, the transformers path leaves the first one unscored.
  Collected valid rows never have an empty prompt.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.intrinsic.fluency import PerplexityResult
from harness.naming import FLUENCY_TASK as TASK_NAME

logger = logging.getLogger(__name__)

ROWS_SUFFIX = ".jsonl"  # a rows file; anything else is a collected dataset


def row_perplexity(loglikelihood: float, n_tokens: int) -> float:
    """``exp`` of the mean negative log-likelihood per response token (NaN: no token)."""
    if n_tokens < 1 or not math.isfinite(loglikelihood):
        return math.nan
    return math.exp(-loglikelihood / n_tokens)


def load_fluency_docs(source: str | Path) -> list[dict[str, Any]]:
    """The task's documents: rows of a ``.jsonl`` file, or the valid rows of a collected dataset.

    Each document has ``row_index`` (its position in the file), ``prompt``, ``response`` and
    ``n_tokens`` (the response's token count under the scoring model; 0 when unknown, and
    then the row reports its loglikelihood only).

    Raises:
        InputNotFoundError: no dataset or rows file there.
        ConfigError: a rows file line without ``prompt`` and ``response``.
    """
    path = Path(source).expanduser()
    if path.suffix == ROWS_SUFFIX:
        from harness.files import read_records

        docs = []
        for i, record in enumerate(read_records(path)):
            if not isinstance(record.get("prompt"), str) or not isinstance(
                record.get("response"), str
            ):
                raise ConfigError(
                    f"{path}: row {i} needs string 'prompt' and 'response' fields to score"
                )
            docs.append(
                {
                    "row_index": int(record.get("row_index", i)),
                    "prompt": record["prompt"],
                    "response": record["response"],
                    "n_tokens": int(record.get("n_tokens") or 0),
                }
            )
        return docs
    from harness.files import data_file
    from harness.schema import read_collected

    table = read_collected(data_file(path), ["prompt", "response", "valid"]).to_pydict()
    return [
        {"row_index": i, "prompt": p or "", "response": r or "", "n_tokens": 0}
        for i, (p, r, ok) in enumerate(
            zip(table["prompt"], table["response"], table["valid"], strict=True)
        )
        if ok
    ]


def encoded_lengths(lm: Any, prompt: str, response: str) -> tuple[int, int]:
    """(prompt tokens, response tokens) exactly as the backend encodes this request.

    Mirrors lm-eval's ``TemplateLM.loglikelihood``: an empty prompt becomes the backend's
    prefix token; otherwise ``_encode_pair`` moves the prompt's trailing whitespace to the
    response and splits the joint encoding at the prompt's own length.

    Raises:
        ConfigError: the backend encodes no text locally (an API without a tokenizer).
    """
    if not hasattr(lm, "_encode_pair") or not hasattr(lm, "tok_encode"):
        raise ConfigError(
            f"fluency through lm-eval needs a backend that tokenizes locally (hf, vllm, ...); "
            f"{type(lm).__name__} does not: use fluency_backend='transformers'"
        )
    if prompt == "":
        response_ids = lm.tok_encode(response, add_special_tokens=False)
        if response_ids and response_ids[0] == lm.prefix_token_id:
            return 1, len(response_ids) - 1
        return 1, len(response_ids)
    context_ids, continuation_ids = lm._encode_pair(prompt, response)
    return len(context_ids), len(continuation_ids)


def load_reference_lm(
    model: str,
    pretrained: str,
    model_args: str = "",
    *,
    max_length: int,
    batch_size: int | str = 8,
    device: str | None = None,
) -> Any:
    """The reference LM as an lm-eval model: ``pretrained`` and ``max_length`` plus ``model_args``.

    ``model_args`` (``dtype=bfloat16,gpu_memory_utilization=0.8``) win over the two given;
    vLLM's ``max_model_len`` there replaces ``max_length`` (vLLM refuses both).
    """
    from lm_eval.api.registry import get_model

    from harness.naming import parse_model_args

    extra = {k: str(v) for k, v in parse_model_args(model_args).items()}
    args = {"pretrained": pretrained}
    if "max_model_len" not in extra:
        args["max_length"] = str(max_length)
    args |= extra
    arg_string = ",".join(f"{k}={v}" for k, v in args.items())
    return get_model(model).create_from_arg_string(
        arg_string, {"batch_size": batch_size, "device": device}
    )


def score_perplexities_lm_eval(
    lm: Any,
    prompts: Sequence[str],
    responses: Sequence[str],
    *,
    cache: str | Path | None = None,
    progress: bool = False,
) -> PerplexityResult:
    """Per-row perplexity of each response given its prompt, through the ``polyglot_fluency`` task.

    Args:
        lm: An lm-eval model (``load_reference_lm`` or any ``TemplateLM``).
        prompts: Prompt texts.
        responses: Response texts, same length as ``prompts``.
        cache: lm-eval request cache (a path without suffix; lm-eval adds ``_rank0.db``):
            rows already scored there under the same model are not scored again, so a
            killed run resumes where it stopped. The caller keys it on the model.
        progress: Show lm-eval's progress bars.

    Returns:
        A :class:`~harness.intrinsic.fluency.PerplexityResult` in input order, by the per-row
        rule (``batch_mean`` False); padding counts are lm-eval's own and not reported.

    Raises:
        ValueError: prompts and responses differ in length.
        ConfigError: the backend does not tokenize locally.
    """
    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
    n = len(prompts)
    max_length = int(lm.max_length)
    values, n_truncated, tokens, rows = [math.nan] * n, 0, 0, []
    for i, (prompt, response) in enumerate(zip(prompts, responses, strict=True)):
        n_prompt, n_response = encoded_lengths(lm, prompt, response) if response else (0, 0)
        if n_prompt + n_response > max_length:
            n_truncated += 1
        # lm-eval asserts a non-empty response that fits beside one prompt token.
        if 0 < n_response < max_length:
            rows.append({"row_index": i, "prompt": prompt, "response": response,
                         "n_tokens": n_response})  # fmt: skip
    if rows:
        for row, loglikelihood in zip(rows, _run_task(lm, rows, cache, progress), strict=True):
            values[row["row_index"]] = row_perplexity(loglikelihood, row["n_tokens"])
            tokens += row["n_tokens"]
    n_nan = sum(math.isnan(v) for v in values)
    if n_nan:
        logger.warning("%d of %d rows had no response token to score (NaN)", n_nan, n)
    if n_truncated:
        logger.warning(
            "%d of %d rows exceeded max_length=%d; lm-eval cut their prompts from the left",
            n_truncated, n, max_length,
        )  # fmt: skip
    return PerplexityResult(values, n_nan, n_truncated, tokens)


def _run_task(
    lm: Any, rows: list[dict[str, Any]], cache: str | Path | None, progress: bool
) -> list[float]:
    """The loglikelihood of each row, in the rows' order, from one lm-eval run."""
    from lm_eval import simple_evaluate
    from lm_eval.api.model import CacheHook
    from lm_eval.tasks import TaskManager

    from harness.paths import tasks_path

    with tempfile.TemporaryDirectory(prefix="polyglot-fluency-") as folder:
        rows_file = Path(folder) / f"rows{ROWS_SUFFIX}"
        rows_file.write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
        )
        manager = TaskManager(
            include_path=str(tasks_path()),
            include_defaults=False,
            metadata={"fluency_data": str(rows_file)},
        )
        try:
            out = simple_evaluate(
                model=lm,
                tasks=[TASK_NAME],
                task_manager=manager,
                log_samples=True,
                bootstrap_iters=0,
                use_cache=str(cache) if cache else None,
                verbosity="WARNING" if not progress else None,
            )
        finally:
            if cache and hasattr(lm, "set_cache_hook"):
                lm.set_cache_hook(CacheHook(None))  # the cache file may go; stop writing to it
    if out is None:  # non-zero rank under a distributed launcher
        return [math.nan] * len(rows)
    by_row = {
        int(s["doc"]["row_index"]): float(s["resps"][0][0][0]) for s in out["samples"][TASK_NAME]
    }
    return [by_row[r["row_index"]] for r in rows]
