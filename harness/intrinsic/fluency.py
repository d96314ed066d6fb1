"""Fluency: perplexity of each response given its prompt under a reference base LM.

Two departures from the paper's script (METHOD.md, "Intrinsic metrics"):

* **Per-row loss.** The paper gives every row of a batch the batch's mean loss, so a
  row's perplexity depends on which rows it was batched with. Here each row's
  perplexity is ``exp(sum of its own response-token NLLs / their count)``.
* **Length bucketing.** Rows are batched in order of length and the results put back
  in input order, so a batch pads to its own longest row rather than to a random
  long one; same numbers, far fewer wasted tokens.

What is kept from the paper: the scored text is ``prompt + response`` as plain text
(no chat template unless asked), and the masked prefix is the number of tokens of the
prompt tokenised *alone*. With BPE the boundary can merge: the prompt's last token and
the response's first may fuse into one token of the joint text, or split differently,
so the masked prefix can be off by a token either way. That is the paper's definition,
kept so that values compare; the effect is one token per row.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PerplexityResult:
    """Per-row perplexities plus what the caller needs to trust the mean."""

    values: list[float]  # input order; NaN where no response token could be scored
    n_nan: int  # rows with no scorable response token (empty, or truncated away)
    n_truncated: int  # rows longer than max_length, scored on their first max_length tokens
    tokens: int  # response tokens scored in total
    padded_tokens: int = 0  # pad positions fed to the model (waste that bucketing cuts)
    total_positions: int = 0  # batch x width summed over batches
    batch_widths: list[int] = field(default_factory=list, repr=False)

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
    """Any valid id works: pads sit right of every real token and are never scored."""
    for attr in ("pad_token_id", "eos_token_id", "unk_token_id"):
        value = getattr(tokenizer, attr, None)
        if isinstance(value, int):
            return value
    return 0


def _texts(
    tokenizer: Any, prompts: Sequence[str], responses: Sequence[str], chat_template: bool
) -> tuple[list[str], list[str], bool]:
    """Prefix texts, full texts, and whether the tokenizer should add special tokens."""
    if not chat_template:
        return list(prompts), [p + r for p, r in zip(prompts, responses, strict=True)], True
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
    bucket: bool = True,
    chat_template: bool = False,
) -> PerplexityResult:
    """Per-row perplexity of each response given its prompt, with bookkeeping.

    See the module docstring for the definition. The model is put in eval mode for the
    call (dropout would make scores random) and restored afterwards.

    Args:
        model: A causal LM (``transformers`` ``*ForCausalLM``) on any device.
        tokenizer: Its tokenizer; a missing pad token is fine (pads are never scored).
        prompts: Prompt texts.
        responses: Response texts, same length as ``prompts``.
        batch_size: Rows per forward pass.
        max_length: Rows longer than this many tokens are cut to their first
            ``max_length`` tokens (counted in ``n_truncated``); paper: 16,384.
        progress: Show a tqdm bar over batches.
        bucket: Batch rows in order of length (default). ``False`` batches in input
            order; results are identical, only slower (kept for the benchmark).
        chat_template: Score ``apply_chat_template([user, assistant])`` with the
            generation-prompted user turn as the masked prefix, for chat references.

    Returns:
        A :class:`PerplexityResult`; ``values`` are in input order.

    Raises:
        ValueError: prompts and responses differ in length, or a bad size argument.
    """
    import torch
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
    if batch_size < 1 or max_length < 2:
        raise ValueError(
            f"need batch_size >= 1 and max_length >= 2, got {batch_size}, {max_length}"
        )
    n = len(prompts)
    if n == 0:
        return PerplexityResult([], 0, 0, 0)

    prefix_texts, full_texts, special = _texts(tokenizer, prompts, responses, chat_template)
    prefix_lens = [
        len(ids)
        for ids in tokenizer(prefix_texts, add_special_tokens=special, verbose=False)["input_ids"]
    ]
    full_ids: list[list[int]] = tokenizer(full_texts, add_special_tokens=special, verbose=False)[
        "input_ids"
    ]
    n_truncated = sum(len(ids) > max_length for ids in full_ids)
    full_ids = [ids[:max_length] for ids in full_ids]

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
                for b, i in enumerate(rows):
                    length = len(full_ids[i])
                    # Token t is predicted at position t-1, so token 0 is never scored.
                    first = max(prefix_lens[i], 1)
                    if first >= length:
                        continue  # nothing of the response left: NaN
                    nll = F.cross_entropy(
                        logits[b, first - 1 : length - 1].float(),
                        input_ids[b, first:length].to(device),
                        reduction="sum",
                    )
                    count = length - first
                    tokens += count
                    values[i] = math.exp(float(nll) / count)
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
    return PerplexityResult(values, n_nan, n_truncated, tokens, padded, positions, widths)


def perplexities(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    responses: Sequence[str],
    batch_size: int = 8,
    max_length: int = 16384,
    progress: bool = True,
) -> list[float]:
    """Per-row perplexity of each response given its prompt, in input order.

    The fluency metric of METHOD.md; each row is scored from its own token losses (not
    the batch mean, the paper's flaw). Rows without a scorable response token are NaN.
    Use :func:`score_perplexities` for the NaN and truncation counts.
    """
    return score_perplexities(
        model, tokenizer, prompts, responses, batch_size, max_length, progress
    ).values
