"""Offline language identification with lingua, tuned for teacher outputs.

Code blocks, URLs, numbers and markup are removed first: a Python snippet or a column
of figures in a Czech answer must not make it "English". Texts with too few letters
left are *undetermined* (``None``), not wrong.

A detected language is reported as the code of the language record that names it in
its ``lingua`` field (:func:`harness.languages.lingua_codes`), so a pack whose code
differs from lingua's ISO 639-1 code is still recognised; a language without a record
is reported by lingua's own ISO 639-1 code.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from harness.languages import lingua_codes

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


def _code(detected: Any, codes: dict[str, str]) -> str:
    """Our code of one lingua language (the record's, else lingua's ISO 639-1 code)."""
    return codes.get(detected.name) or detected.iso_code_639_1.name.lower()


def clean_for_langid(text: str) -> str:
    """Strip what carries no language signal (code, URLs, digits, punctuation)."""
    text = _CODE_BLOCK.sub(" ", text)
    text = _INLINE_CODE.sub(" ", text)
    text = _URL.sub(" ", text)
    return " ".join(_NON_LETTERS.sub(" ", text).split())


def detect_language(text: str | None) -> str | None:
    """The code of ``text``'s language (see the module note), or ``None`` when undeterminable."""
    if not text:
        return None
    cleaned = clean_for_langid(text)
    if sum(ch.isalpha() for ch in cleaned) < MIN_LETTERS:
        return None
    detected = _detector().detect_language_of(cleaned)
    return _code(detected, lingua_codes()) if detected is not None else None


def detect_languages(texts: list[str]) -> list[str | None]:
    """Batch form of :func:`detect_language` (lingua parallelises the batch)."""
    cleaned = [clean_for_langid(t or "") for t in texts]
    idx = [i for i, c in enumerate(cleaned) if sum(ch.isalpha() for ch in c) >= MIN_LETTERS]
    out: list[str | None] = [None] * len(texts)
    if idx:
        codes = lingua_codes()
        found = _detector().detect_languages_in_parallel_of([cleaned[i] for i in idx])
        for i, lang in zip(idx, found, strict=True):
            out[i] = _code(lang, codes) if lang is not None else None
    return out
