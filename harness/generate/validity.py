"""Decide whether a teacher output becomes a training pair, and if not, why.

Under the ``paper`` protocol an output is valid when it parses into a non-empty pair:
the paper's code checks nothing else, so it trains on refusals and on text in the wrong
language. Two corrections (:data:`harness.protocol.CORRECTIONS`) add checks:
``refusal_filter`` and ``langid_validity``. Their verdicts are computed under every
protocol and kept beside the decision (``correction_reason``), so a user can count what
a correction would drop without collecting again.

Every output gets a verdict; invalid rows keep their raw text and reason so a user can
see what a teacher did wrong. Order matters: an empty or unparseable output is
reported as such before refusal or language checks look at it.
"""

from __future__ import annotations

import re
from contextlib import suppress
from dataclasses import dataclass
from functools import cache

from harness.errors import UnknownLanguageError
from harness.generate.langid import detect_language
from harness.generate.parse import extract_pair
from harness.languages import SOURCE_LANGUAGE, get_language
from harness.protocol import DEFAULT, Protocol, resolve
from harness.schema import InvalidReason, Strategy

# A refusal is looked for in the first characters of the response only, so an answer that
# *discusses* apologising is not a refusal. The openings are each language's record's
# ``refusal_openings``; English ones are checked in every language.
REFUSAL_WINDOW = 160


@dataclass(frozen=True)
class Assessment:
    """A parsed teacher output and its verdict.

    ``invalid_reason`` is what decided ``valid`` under the protocol assessed with;
    ``correction_reason`` is what the refusal and language corrections say about a pair
    that parses (None: they would keep it), whichever of them the protocol applies.
    """

    prompt: str
    response: str
    valid: bool
    invalid_reason: str | None
    detected_language: str | None
    correction_reason: str | None = None


@cache
def _opening_pattern(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE) if patterns else None


def _refusal_patterns(language: str) -> list[re.Pattern[str]]:
    """English openings, plus the language's own when a record or lingua knows it."""
    openings = [SOURCE_LANGUAGE.refusal_openings]
    with suppress(UnknownLanguageError):  # a code nothing knows has no openings of its own
        openings.append(get_language(language).refusal_openings)
    return [p for p in map(_opening_pattern, dict.fromkeys(openings)) if p is not None]


def is_refusal(text: str, language: str) -> bool:
    """Whether ``text`` opens with a refusal in English or ``language``."""
    head = text.strip()[:REFUSAL_WINDOW].lower()
    return any(pattern.search(head) is not None for pattern in _refusal_patterns(language))


def _language_verdict(
    strategy: Strategy, prompt: str, detected: str | None, language: str
) -> InvalidReason | None:
    """Language verdict on the text the teacher wrote (respond's prompt is the seed).

    A text lingua cannot place (fewer than ``MIN_LETTERS`` letters once code and
    digits are gone, or no confident guess) is *undetermined*, not valid: "Das ist gut
    so." would otherwise pass for Japanese and be trained on. A text placed in another
    language wins over an undetermined one, since that is the stronger finding.
    """
    texts = [detected]
    if strategy is not Strategy.RESPOND:
        texts.append(detect_language(prompt))
    if any(code is not None and code != language for code in texts):
        return InvalidReason.WRONG_LANGUAGE
    if any(code is None for code in texts):
        return InvalidReason.UNDETERMINED_LANGUAGE
    return None


def assess(
    strategy: str | Strategy,
    raw_output: str | None,
    language: str,
    *,
    source_prompt: str = "",
    protocol: str | Protocol = DEFAULT,
    check_language: bool = True,
) -> Assessment:
    """Parse and judge one teacher output.

    Args:
        strategy: generate and translate expect a JSON pair; respond expects an answer
            to ``source_prompt``.
        raw_output: the text the teacher generated.
        language: the target language's ISO 639-1 code.
        source_prompt: respond's prompt (the pair's prompt is the seed itself).
        protocol: which checks decide validity: ``refusal_filter`` makes a refusal
            invalid, ``langid_validity`` text in another language or too short to
            identify (``undetermined_language``).
        check_language: run language ID on prompt and response at all; off, no
            language verdict is computed (nor applied), and ``detected_language`` is None.
    """
    applied = resolve(protocol)
    strategy = Strategy(strategy)
    raw = raw_output or ""
    if strategy is Strategy.RESPOND:
        prompt, response = source_prompt.strip(), raw.strip()
        # No seed prompt (a malformed doc) is no pair either: never train on an empty turn.
        reason = InvalidReason.EMPTY if not (prompt and response) else None
    else:
        parsed = extract_pair(raw)
        prompt, response, reason = parsed.prompt, parsed.response, parsed.reason

    detected = detect_language(response) if check_language and response else None
    correction: InvalidReason | None = None
    if reason is None:  # only a pair that parses is worth a refusal or language verdict
        verdicts = {
            "refusal_filter": InvalidReason.REFUSAL if is_refusal(response, language) else None,
            "langid_validity": (
                _language_verdict(strategy, prompt, detected, language) if check_language else None
            ),
        }
        correction = next((v for v in verdicts.values() if v is not None), None)
        reason = next(
            (v for name, v in verdicts.items() if v is not None and applied.corrects(name)), None
        )
    return Assessment(
        prompt=prompt,
        response=response,
        valid=reason is None,
        invalid_reason=reason.value if reason is not None else None,
        detected_language=detected,
        correction_reason=correction.value if correction is not None else None,
    )
