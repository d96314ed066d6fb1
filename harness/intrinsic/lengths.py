"""Prompt and response lengths in tokens (paper: the OLMo-3 tokenizer).

Lengths are in tokens of one fixed tokenizer, not characters or words, so that they
compare across languages and scripts the way a student model will see them. Any
``transformers`` tokenizer can be named; fast tokenizers are run in batches.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

import numpy as np

from harness.errors import EmptyDataError


def load_tokenizer(tokenizer: str | Any) -> Any:
    """A tokenizer from a model id or path; an already loaded one is passed through."""
    if not isinstance(tokenizer, str):
        return tokenizer
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tokenizer)


def _chunks(texts: Iterable[str], size: int) -> Iterator[list[str]]:
    it = iter(texts)
    while chunk := list(islice(it, size)):
        yield chunk


def token_lengths(
    texts: Iterable[str],
    tokenizer: str | Any,
    *,
    batch_size: int = 1024,
    add_special_tokens: bool = False,
) -> np.ndarray:
    """Token count of each text, in input order.

    Args:
        texts: The texts (one pass; a generator over a dataset column works).
        tokenizer: A ``transformers`` tokenizer or its model id / path.
        batch_size: Texts per call of the (Rust, multi-threaded) fast tokenizer.
        add_special_tokens: Count BOS/EOS too; off by default because they are the
            same constant for every row and only blur comparisons between tokenizers.

    Returns:
        An int64 array, one length per text.
    """
    tok = load_tokenizer(tokenizer)
    out: list[int] = []
    for chunk in _chunks(texts, batch_size):
        enc = tok(
            chunk,
            add_special_tokens=add_special_tokens,
            return_attention_mask=False,
            return_token_type_ids=False,
            verbose=False,
        )
        out.extend(len(ids) for ids in enc["input_ids"])
    return np.asarray(out, dtype=np.int64)


def mean_token_length(texts: Iterable[str], tokenizer: str | Any, **kwargs: Any) -> float:
    """Mean of :func:`token_lengths`: the "prompt length" / "response length" metrics.

    Raises:
        EmptyDataError: no texts.
    """
    lengths = token_lengths(texts, tokenizer, **kwargs)
    if lengths.size == 0:
        raise EmptyDataError("mean_token_length needs at least one text")
    return float(lengths.mean())
