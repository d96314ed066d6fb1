"""Seed text as every seed path stores it, and the key duplicates are found by."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Any


def normalize_text(text: Any) -> str:
    """NFC, no zero-width noise, ``\\n`` line ends, no trailing blanks, <= 1 empty line."""
    text = unicodedata.normalize("NFC", str(text or ""))
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u200b", "")
    text = text.replace("\ufeff", "")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def dedupe_key(text: str) -> str:
    """Exact-duplicate key: case and whitespace differences do not make a new prompt."""
    return hashlib.sha1(" ".join(text.casefold().split()).encode("utf-8")).hexdigest()
