"""Recover a ``{"prompt": ..., "response": ...}`` pair from whatever a teacher wrote.

Teachers wrap JSON in code fences, add chatter before and after, use single quotes or
trailing commas, leave raw newlines inside strings, or run out of tokens mid-object.
:func:`extract_pair` never raises: it returns the best fields it can find and a
status that says how much to trust them.

Why not ``json-repair`` (tried for issue #10): it completes a cut-off object, so a
truncated pair would pass as valid unless our brace scan still decided completeness, and
it is quadratic on long non-JSON spans (~7 s on a 25k-character degenerate output that
this parser classifies in ~0.1 s; see ``tests/generate/test_parse.py``).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass

from harness.schema import InvalidReason

PROMPT_KEYS = ("prompt", "instruction", "question", "input")
RESPONSE_KEYS = ("response", "answer", "output")

_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)(?:```|$)", re.DOTALL)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_SMART_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "«": '"', "»": '"'})
_PARTIAL_FIELD = r'["\']{key}["\']\s*:\s*["\']((?:[^"\\]|\\.)*)'
_MAX_STARTS = 64  # bound the quadratic scan on outputs full of braces
_MAX_DEPTH = 32  # list nesting joined into text; deeper is dumped as JSON


@dataclass(frozen=True)
class ParsedPair:
    """The outcome of parsing one teacher output."""

    prompt: str
    response: str
    reason: InvalidReason | None  # None: a complete, well-formed pair

    @property
    def ok(self) -> bool:
        return self.reason is None


def _balanced_objects(text: str) -> list[str]:
    """Every ``{...}`` span with balanced braces, honouring quoted strings."""
    spans: list[str] = []
    i = text.find("{")
    starts = 0
    while i != -1 and starts < _MAX_STARTS:
        starts += 1
        depth, quote, escaped = 0, "", False
        for j in range(i, len(text)):
            ch = text[j]
            if quote:
                if escaped:
                    escaped = False
                elif ch == "\\":
                    escaped = True
                elif ch == quote:
                    quote = ""
            elif ch in "\"'" and (ch == '"' or text[j - 1] in "{:,[ \n\t"):
                quote = ch
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    spans.append(text[i : j + 1])
                    break
        i = text.find("{", i + 1)
    return spans


def _load_object(span: str) -> dict | None:
    """Parse one ``{...}`` span as JSON, then leniently (quotes, commas, literals)."""
    attempts = (span, _TRAILING_COMMA.sub(r"\1", span.translate(_SMART_QUOTES)))
    for attempt in attempts:
        try:
            obj = json.loads(attempt, strict=False)  # strict=False: raw newlines in strings
        except (ValueError, RecursionError):  # RecursionError: nesting past the stack
            continue
        if isinstance(obj, dict):
            return obj
    try:
        obj = ast.literal_eval(attempts[1])  # single-quoted "JSON" is a Python literal
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None  # TypeError: an unhashable key or set member, e.g. ``{[1]: 2}``
    return obj if isinstance(obj, dict) else None


def _as_text(value: object, depth: int = 0) -> str:
    """A field's value as text; never raises, whatever a lenient parse produced.

    ``ast.literal_eval`` yields sets, bytes and complex numbers JSON cannot encode, and
    nesting deep enough to exhaust the stack, so the fallbacks are ``repr`` and "".
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list) and depth < _MAX_DEPTH:
        return "\n".join(_as_text(v, depth + 1) for v in value).strip()
    try:
        return json.dumps(value, ensure_ascii=False, default=repr)
    except RecursionError:
        return ""  # nested past the stack: no text a pair could use
    except (TypeError, ValueError):  # e.g. a tuple key, which ``default`` never sees
        return repr(value)


def _field(obj: dict, keys: tuple[str, ...]) -> str | None:
    lowered = {str(k).strip().lower(): v for k, v in obj.items()}
    for key in keys:
        if key in lowered:
            return _as_text(lowered[key])
    return None


def _partial(text: str, keys: tuple[str, ...]) -> str | None:
    for key in keys:
        match = re.search(_PARTIAL_FIELD.format(key=key), text, re.IGNORECASE | re.DOTALL)
        if match:
            raw = match.group(1)
            try:
                return json.loads(f'"{raw}"', strict=False).strip()
            except ValueError:
                return raw.replace('\\"', '"').replace("\\n", "\n").strip()
    return None


def extract_pair(text: str | None) -> ParsedPair:
    """Find the prompt-response pair in a teacher output.

    Candidates are tried in order: fenced blocks, then the whole text; within each,
    every balanced ``{...}`` span. The first object with both fields wins. An object
    with one field gives ``MISSING_FIELD``; an unterminated object whose fields can be
    read gives ``TRUNCATED`` with the partial text (kept for inspection, never
    trained on).
    """
    if text is None or not text.strip():
        return ParsedPair("", "", InvalidReason.EMPTY)
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    partial_obj: dict | None = None
    for candidate in candidates:
        for span in _balanced_objects(candidate):
            obj = _load_object(span)
            if obj is None:
                continue
            prompt, response = _field(obj, PROMPT_KEYS), _field(obj, RESPONSE_KEYS)
            if prompt is not None and response is not None:
                if not prompt or not response:
                    return ParsedPair(prompt, response, InvalidReason.EMPTY)
                return ParsedPair(prompt, response, None)
            if partial_obj is None and (prompt is not None or response is not None):
                partial_obj = obj
    if partial_obj is not None:
        return ParsedPair(
            _field(partial_obj, PROMPT_KEYS) or "",
            _field(partial_obj, RESPONSE_KEYS) or "",
            InvalidReason.MISSING_FIELD,
        )
    prompt, response = _partial(text, PROMPT_KEYS), _partial(text, RESPONSE_KEYS)
    if prompt is not None:
        return ParsedPair(prompt, response or "", InvalidReason.TRUNCATED)
    return ParsedPair("", "", InvalidReason.UNPARSEABLE)
