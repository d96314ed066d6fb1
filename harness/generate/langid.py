"""Offline language identification with lingua, tuned for teacher outputs.

Code blocks, URLs, numbers and markup are removed first: a Python snippet or a column
of figures in a Czech answer must not make it "English". Texts with too few letters
left are *undetermined* (``None``), not wrong.
"""

from __future__ import annotations

import re
from functools import cache

_CODE_BLOCK = re.compile(r"```.*?(?:```|$)", re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`]*`")
_URL = re.compile(r"https?://\S+|www\.\S+")
_NON_LETTERS = re.compile(r"[\d_\W]+", re.UNICODE)
MIN_LETTERS = 12


@cache
def _detector():
    from lingua import LanguageDetectorBuilder

    # All languages, lazily loaded models: only the candidates a text triggers load.
    return LanguageDetectorBuilder.from_all_languages().build()


def clean_for_langid(text: str) -> str:
    """Strip what carries no language signal (code, URLs, digits, punctuation)."""
    text = _CODE_BLOCK.sub(" ", text)
    text = _INLINE_CODE.sub(" ", text)
    text = _URL.sub(" ", text)
    return " ".join(_NON_LETTERS.sub(" ", text).split())


def detect_language(text: str | None) -> str | None:
    """ISO 639-1 code of ``text``'s language, or ``None`` when undeterminable."""
    if not text:
        return None
    cleaned = clean_for_langid(text)
    if sum(ch.isalpha() for ch in cleaned) < MIN_LETTERS:
        return None
    detected = _detector().detect_language_of(cleaned)
    return detected.iso_code_639_1.name.lower() if detected is not None else None


def detect_languages(texts: list[str]) -> list[str | None]:
    """Batch form of :func:`detect_language` (lingua parallelises the batch)."""
    cleaned = [clean_for_langid(t or "") for t in texts]
    idx = [i for i, c in enumerate(cleaned) if sum(ch.isalpha() for ch in c) >= MIN_LETTERS]
    out: list[str | None] = [None] * len(texts)
    if idx:
        found = _detector().detect_languages_in_parallel_of([cleaned[i] for i in idx])
        for i, lang in zip(idx, found, strict=True):
            out[i] = lang.iso_code_639_1.name.lower() if lang is not None else None
    return out
