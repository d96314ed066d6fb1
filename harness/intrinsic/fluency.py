"""Fluency: perplexity of each response given its prompt under a reference base LM.

The scored text is ``prompt + response`` as plain text (no chat template unless asked),
and the masked prefix is the number of tokens of the prompt tokenised *alone*. With BPE
the boundary can merge: the prompt's last token and the response's first may fuse into
one token of the joint text, or split differently, so the masked prefix can be off by a
token either way. That is the paper's definition, kept so that values compare; the
effect is one token per row. The dataset value is the mean perplexity over rows.

How a row's perplexity is formed is the protocol's (METHOD.md, "Intrinsic metrics"):

* **paper** (batch mean): rows are batched ``batch_size`` at a time *in input order*
  (the intrinsic subsample keeps the file's order), padded on the right, and one loss is
  taken over the whole padded batch: every position whose label is not a prompt token
  counts, the pad positions included (their label is the pad id). Every row of the
  batch gets ``exp`` of that one mean, so a row's value depends on its batch mates and
  on ``batch_size``, and short rows batched with long ones inherit the long rows' pads.
  Published values are reproduced only with the paper's batch size and order.
* **per_row_fluency** (the correction): each row's perplexity is
  ``exp(sum of its own response-token NLLs / their count)``, independent of batching.
  Rows are then batched in order of length (bucketing) and put back in input order, so
  a batch pads to its own longest row; same numbers, far fewer wasted tokens. The
  prompt's trailing whitespace counts with the response, as lm-eval splits a
  loglikelihood request, so these values equal the ``polyglot_fluency`` lm-eval task's
  (:mod:`harness.intrinsic.fluency_lm_eval`, any lm-eval backend) on the same model.
  This path stays because it is the faster on CPU (benchmarks/bench_perplexity.py) and
  the paper's rule, which depends on padding inside a batch, has no lm-eval form.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.errors import ConfigError
from harness.protocol import Protocol, resolve

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PerplexityResult:
    """Per-row perplexities plus what the caller needs to trust the mean."""

    values: list[float]  # input order; NaN where nothing could be scored
    n_nan: int  # rows without a value (per row: no response token; paper: a batch without)
    n_truncated: int  # rows longer than max_length, scored on their first max_length tokens
    tokens: int  # response tokens scored in total
    padded_tokens: int = 0  # pad positions fed to the model (waste that bucketing cuts)
    total_positions: int = 0  # batch x width summed over batches
    batch_widths: list[int] = field(default_factory=list, repr=False)
    batch_mean: bool = False  # the paper's rule: each row holds its batch's value

    @property
    def mean(self) -> float:
        """The dataset value: mean perplexity over rows that have one (NaN if none)."""
        finite = [v for v in self.values if not math.isnan(v)]
        return sum(finite) / len(finite) if finite else math.nan

    @property
    def padding_fraction(self) -> float:
        """Share of model positions that were padding."""
        return self.padded_tokens / self.total_positions if self.total_positions else 0.0


def _pad_id(tokenizer: Any) -> int:
    """The pad id; under the paper's batch mean the pads are scored, so it matters there."""
    for attr in ("pad_token_id", "eos_token_id", "unk_token_id"):
        value = getattr(tokenizer, attr, None)
        if isinstance(value, int):
            return value
    return 0


def _texts(
    tokenizer: Any,
    prompts: Sequence[str],
    responses: Sequence[str],
    chat_template: bool,
    per_row: bool = False,
) -> tuple[list[str], list[str], bool]:
    """Prefix texts, full texts, and whether the tokenizer should add special tokens.

    Per row, the prompt's trailing whitespace belongs to the response, as lm-eval splits a
    loglikelihood request (``_encode_pair``): a prompt's final space tokenised alone would
    otherwise mask the response's first word, which the joint text spells " word".
    """
    if not chat_template:
        fulls = [p + r for p, r in zip(prompts, responses, strict=True)]
        return [p.rstrip() if per_row else p for p in prompts], fulls, True
    prefixes, fulls = [], []
    for p, r in zip(prompts, responses, strict=True):
        user = [{"role": "user", "content": p}]
        prefixes.append(
            tokenizer.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
        )
        fulls.append(
            tokenizer.apply_chat_template(
                [*user, {"role": "assistant", "content": r}], tokenize=False
            )
        )
    # The template already writes BOS and friends; adding them again would double them.
    return prefixes, fulls, False


def score_perplexities(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    responses: Sequence[str],
    batch_size: int = 8,
    max_length: int = 16384,
    progress: bool = True,
    *,
    protocol: str | Protocol | None = None,
    bucket: bool | None = None,
    chat_template: bool = False,
) -> PerplexityResult:
    """Perplexity of each response given its prompt, by ``protocol``'s rule, with bookkeeping.

    See the module docstring for the two rules. The model is put in eval mode for the
    call (dropout would make scores random) and restored afterwards.

    Args:
        model: A causal LM (``transformers`` ``*ForCausalLM``) on any device.
        tokenizer: Its tokenizer; without a pad token, EOS pads.
        prompts: Prompt texts.
        responses: Response texts, same length as ``prompts``.
        batch_size: Rows per forward pass; under the paper's rule it changes the values.
        max_length: Rows longer than this many tokens are cut to their first
            ``max_length`` tokens (counted in ``n_truncated``); paper: 16,384.
        progress: Show a tqdm bar over batches.
        protocol: ``paper`` (default: the batch mean) or one with ``per_row_fluency``.
        bucket: Per-row rule only: batch rows in order of length (the default) or, with
            ``False``, in input order; results are identical, only slower. The paper's
            rule always batches in input order.
        chat_template: Score ``apply_chat_template([user, assistant])`` with the
            generation-prompted user turn as the masked prefix, for chat references.

    Returns:
        A :class:`PerplexityResult`; ``values`` are in input order.

    Raises:
        ValueError: prompts and responses differ in length, or a bad size argument.
        ConfigError: ``bucket=True`` under the paper's rule (it would regroup the rows).
    """
    import torch
    from tqdm.auto import tqdm

    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
    if batch_size < 1 or max_length < 2:
        raise ValueError(
            f"need batch_size >= 1 and max_length >= 2, got {batch_size}, {max_length}"
        )
    batch_mean = not resolve(protocol).corrects("per_row_fluency")
    if batch_mean and bucket:
        raise ConfigError(
            "length bucketing regroups rows, which changes the paper's batch-mean "
            "perplexities: leave bucket unset, or use a protocol with per_row_fluency"
        )
    n = len(prompts)
    if n == 0:
        return PerplexityResult([], 0, 0, 0, batch_mean=batch_mean)

    prefix_texts, full_texts, special = _texts(
        tokenizer, prompts, responses, chat_template, per_row=not batch_mean
    )
    prefix_lens = [
        len(ids)
        for ids in tokenizer(prefix_texts, add_special_tokens=special, verbose=False)["input_ids"]
    ]
    full_ids: list[list[int]] = tokenizer(full_texts, add_special_tokens=special, verbose=False)[
        "input_ids"
    ]
    n_truncated = sum(len(ids) > max_length for ids in full_ids)
    full_ids = [ids[:max_length] for ids in full_ids]

    bucket = not batch_mean if bucket is None else bucket
    order = sorted(range(n), key=lambda i: -len(full_ids[i])) if bucket else list(range(n))
    values = [math.nan] * n
    pad_id = _pad_id(tokenizer)
    device = next(model.parameters()).device
    tokens = padded = positions = 0
    widths: list[int] = []

    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            starts = range(0, n, batch_size)
            for start in tqdm(starts, desc="perplexity", disable=not progress):
                rows = order[start : start + batch_size]
                width = max(len(full_ids[i]) for i in rows)
                input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
                attention = torch.zeros((len(rows), width), dtype=torch.long)
                for b, i in enumerate(rows):
                    input_ids[b, : len(full_ids[i])] = torch.tensor(full_ids[i])
                    attention[b, : len(full_ids[i])] = 1
                logits = model(
                    input_ids=input_ids.to(device), attention_mask=attention.to(device)
                ).logits
                widths.append(width)
                positions += len(rows) * width
                padded += len(rows) * width - int(attention.sum())
                lengths = [len(full_ids[i]) for i in rows]
                firsts = [max(prefix_lens[i], 1) for i in rows]
                tokens += sum(max(n - f, 0) for n, f in zip(lengths, firsts, strict=True))
                score = _batch_mean if batch_mean else _per_row
                row_values = score(logits, input_ids.to(device), lengths, firsts)
                for i, value in zip(rows, row_values, strict=True):
                    values[i] = value
                del logits
    finally:
        model.train(was_training)

    n_nan = sum(math.isnan(v) for v in values)
    if n_nan:
        logger.warning("%d of %d rows had no response token to score (NaN)", n_nan, n)
    if n_truncated:
        logger.warning(
            "%d of %d rows exceeded max_length=%d and were cut", n_truncated, n, max_length
        )
    return PerplexityResult(
        values, n_nan, n_truncated, tokens, padded, positions, widths, batch_mean=batch_mean
    )


def _per_row(logits: Any, input_ids: Any, lengths: list[int], firsts: list[int]) -> list[float]:
    """Each row's own mean response-token NLL, exponentiated (NaN: no response token).

    Token t is predicted at position t-1, so token 0 is never scored; ``firsts[b]`` is the
    row's first response token.
    """
    import torch.nn.functional as F

    values = []
    for b, (length, first) in enumerate(zip(lengths, firsts, strict=True)):
        if first >= length:
            values.append(math.nan)  # nothing of the response left
            continue
        nll = F.cross_entropy(
            logits[b, first - 1 : length - 1].float(), input_ids[b, first:length], reduction="sum"
        )
        values.append(math.exp(float(nll) / (length - first)))
    return values


def _batch_mean(logits: Any, input_ids: Any, lengths: list[int], firsts: list[int]) -> list[float]:
    """The paper's value for every row: one mean NLL over the padded batch, pads included.

    Labels are the input ids with each row's prompt positions masked; nothing else is
    masked, so each pad position's label (the pad id) is scored like a response token.
    """
    import torch.nn.functional as F

    labels = input_ids.clone()
    for b, first in enumerate(firsts):
        labels[b, :first] = -100
    targets = labels[:, 1:]
    count = int((targets != -100).sum())
    if count == 0:
        return [math.nan] * len(lengths)
    nll = F.cross_entropy(
        logits[:, :-1].float().reshape(-1, logits.shape[-1]),
        targets.reshape(-1),
        ignore_index=-100,
        reduction="sum",
    )
    return [math.exp(float(nll) / count)] * len(lengths)


def perplexities(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    responses: Sequence[str],
    batch_size: int = 8,
    max_length: int = 16384,
    progress: bool = True,
    *,
    protocol: str | Protocol | None = None,
) -> list[float]:
    """Perplexity of each response given its prompt, in input order, by ``protocol``'s rule.

    The fluency metric of METHOD.md: the paper's batch mean by default, each row's own
    token losses with ``per_row_fluency``. Use :func:`score_perplexities` for the NaN and
    truncation counts.
    """
    return score_perplexities(
        model, tokenizer, prompts, responses, batch_size, max_length, progress, protocol=protocol
    ).values
