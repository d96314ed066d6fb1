"""Surface diversity: distinct-n and compression ratio.

Cheap complements to the embedding diversity: they need no model and catch templated
output (the same opening sentence on every row) that embeddings average away.
Languages written without spaces between words (Japanese here) have no whitespace
tokens worth counting, so they are measured in characters; which unit a language gets
is derived from its script in :mod:`harness.languages`.
"""

from __future__ import annotations

import gzip
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from typing import Literal

from harness.errors import EmptyDataError
from harness.languages import get_language

Unit = Literal["word", "char"]

_SPACE = re.compile(r"\s+")
_NON_WORD = re.compile(r"[\W_]+")


def unit_for_language(language: str | None) -> Unit:
    """``"char"`` for languages written without spaces, ``"word"`` otherwise (and for None)."""
    if not language:
        return "word"
    return "word" if get_language(language).spaces_between_words else "char"


def tokenize(text: str, unit: Unit, *, strip_punctuation: bool = False) -> list[str]:
    """Split a text into the units n-grams are built from.

    Words are whitespace tokens (optionally with punctuation removed and case folded,
    as overlap checks want); characters are every non-space character.
    """
    if strip_punctuation:
        text = _NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold())
    if unit == "word":
        return text.split()
    if unit == "char":
        return [c for c in text if not c.isspace()]
    raise ValueError(f"unknown unit {unit!r}: use 'word' or 'char'")


def ngrams(tokens: Sequence[str], n: int) -> Iterator[tuple[str, ...]]:
    """Contiguous n-grams of a token list (none when it is shorter than n)."""
    return zip(*(tokens[k:] for k in range(n)), strict=False)


def distinct_n(
    texts: Iterable[str],
    ns: Sequence[int] = (1, 2, 3),
    *,
    language: str | None = None,
    unit: Unit | None = None,
) -> dict[int, float]:
    """Distinct-n (Li et al., 2016): unique n-grams / all n-grams over the corpus.

    Pooled over the corpus rather than averaged per text, because the question is
    whether the *dataset* repeats itself; a per-text average would call a dataset of
    one text copied 10k times perfectly diverse.

    Args:
        texts: The texts (one pass).
        ns: The n-gram orders to report.
        language: ISO 639-1 code; picks the unit (characters for Japanese).
        unit: Force ``"word"`` or ``"char"``; overrides ``language``.

    Returns:
        ``{n: ratio}``; a ratio is NaN when the corpus has no n-gram of that order.

    Raises:
        EmptyDataError: no texts.
    """
    unit = unit or unit_for_language(language)
    seen: dict[int, set[int]] = {n: set() for n in ns}
    total = dict.fromkeys(ns, 0)
    n_texts = 0
    for text in texts:
        n_texts += 1
        toks = tokenize(text, unit)
        for n in ns:
            # Hashes, not tuples: a tenth of the memory; a 64-bit collision is negligible.
            grams = [hash(g) for g in ngrams(toks, n)]
            total[n] += len(grams)
            seen[n].update(grams)
    if n_texts == 0:
        raise EmptyDataError("distinct_n needs at least one text")
    return {n: (len(seen[n]) / total[n] if total[n] else float("nan")) for n in ns}


class _CountingSink:
    """A write-only file object that only counts bytes, so nothing is kept."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass


def compression_ratio(texts: Iterable[str], *, level: int = 9) -> float:
    """Raw UTF-8 size / gzip size of the texts joined by newlines.

    Higher means more redundant (repeated phrasing compresses well); ~2.5-4 is usual
    for varied natural text. Streams through gzip, so memory does not grow with the
    corpus. Deterministic: the gzip header's timestamp is fixed to 0.

    Raises:
        EmptyDataError: no texts, or only empty ones.
    """
    sink = _CountingSink()
    raw = 0
    with gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=level, mtime=0) as gz:  # type: ignore[arg-type]
        for i, text in enumerate(texts):
            data = (("\n" if i else "") + text).encode("utf-8")
            raw += len(data)
            gz.write(data)
    if raw == 0:
        raise EmptyDataError("compression_ratio needs at least one non-empty text")
    return raw / sink.size
