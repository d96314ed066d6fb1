"""MGSM as the paper scores it: native prompt, number-only answer, numeric match.

Each of the 5 shots (``train``, in order) and the test question reads: the question, a
blank line, the native "answer with only the number" line, then ``Answer:``. The student
generates at most 50 tokens, up to the first newline, by sampling under the ``paper``
protocol (:data:`harness.protocol.MGSM_SAMPLING`) or greedily under the ``greedy_mgsm``
correction; the *first* number in that text is the prediction and counts when it
equals the gold at 2-decimal precision. Models write numbers the way their language
does ("1.000" in German is a thousand, "3,5" is three and a half, Japanese output may
use full-width digits), so the extraction normalises those forms instead of
regex-matching ASCII only, which would score correct answers as wrong.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from harness.languages import Language, get_language
from harness.protocol import MGSM_GREEDY, MGSM_SAMPLING, Protocol
from harness.protocol import resolve as resolve_protocol

MAX_NEW_TOKENS = 50
STOP = ("\n",)
ANSWER_CUE = "Answer:"  # the paper's prompt ends in this cue in every language

# Separators a model may put inside one number: "." and "," (thousands or decimal),
# and spaces / apostrophes (thousands only, and only before exactly three digits).
_NUMBER = re.compile(r"-?\d+(?:(?:[.,]|[ \u00a0\u202f'’](?=\d{3}(?!\d)))\d+)*")
_CHAR_MAP = str.maketrans(
    {
        "\u2212": "-",  # minus sign
        "\u2013": "-",  # en dash used as minus
        "\u066b": ".",  # Arabic decimal separator
        "\u066c": ",",  # Arabic thousands separator
        "\u060c": ",",  # Arabic comma
    }
)


def question_cue(code: str) -> str:
    """The prefix MGSM's train split puts before a question in language ``code``.

    MGSM's test split stores bare questions, so test questions get it to read like the
    shots. It is the record's ``mgsm_question_cue``.

    Raises:
        ConfigError: the language's record has no MGSM question cue.
    """
    return get_language(code).require("mgsm_question_cue", "MGSM")


def generation_kwargs(protocol: str | Protocol | None = None) -> dict[str, Any]:
    """lm-eval ``generation_kwargs`` of the MGSM tasks under ``protocol`` (default paper)."""
    chosen = resolve_protocol(protocol)
    decoding = MGSM_GREEDY if chosen.corrects("greedy_mgsm") else MGSM_SAMPLING
    return {"until": list(STOP), "max_gen_toks": MAX_NEW_TOKENS, **decoding}


def doc_to_text_template(language: Language) -> str:
    """The Jinja ``doc_to_text`` of one language's MGSM leaf task.

    The train split (few-shot source) stores questions with the cue already in front and
    a worked ``answer``; the test split stores bare questions with ``answer`` null, which
    is how lm-eval's mgsm tells them apart, so we do the same. Question, blank line,
    native instruction, ``Answer:``: the paper's layout.

    Raises:
        ConfigError: the language's record lacks ``mgsm_question_cue`` or
            ``mgsm_instruction`` (the message names the file and the field).
    """
    cue = language.require("mgsm_question_cue", "MGSM")
    instruction = language.require("mgsm_instruction", "MGSM")
    return (
        "{% if answer is not none %}{{question}}{% else %}"
        f'{{{{"{cue} " + question}}}}{{% endif %}}\n\n'
        f"{instruction}\n{ANSWER_CUE}"
    )


def _normalise(text: str) -> str:
    """Map every Unicode decimal digit to ASCII and width variants to their base form."""
    text = unicodedata.normalize("NFKC", text).translate(_CHAR_MAP)
    return "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in text)


def _to_float(token: str) -> float:
    """Read one matched number, deciding which separators group thousands."""
    sign = -1.0 if token.startswith("-") else 1.0
    body = token.lstrip("-")
    for sep in (" ", "\u00a0", "\u202f", "'", "’"):
        body = body.replace(sep, "")
    marks = [c for c in body if c in ".,"]
    if not marks:
        return sign * float(body)
    if len(set(marks)) == 2:  # both kinds: the last one is the decimal mark
        decimal = body[max(body.rfind("."), body.rfind(","))]
        thousands = "," if decimal == "." else "."
        return sign * float(body.replace(thousands, "").replace(decimal, "."))
    mark = marks[0]
    groups = body.split(mark)
    if len(marks) > 1:  # "1.234.567": only thousands separators repeat
        return sign * float("".join(groups))
    whole, frac = groups
    # One mark before exactly three digits after a non-zero integer part is a thousands
    # separator ("1,000", "12.500"); otherwise it is a decimal mark ("0,5", "3.14").
    if len(frac) == 3 and whole != "0" and len(whole) <= 3:
        return sign * float(whole + frac)
    return sign * float(f"{whole}.{frac}")


def extract_number(text: str | None) -> float | None:
    """The first number in a model's answer, or ``None`` when it wrote none."""
    if not text:
        return None
    match = _NUMBER.search(_normalise(text))
    return _to_float(match.group(0)) if match else None


def is_correct(prediction: float | None, gold: float | str | int) -> bool:
    """Whether the prediction equals the gold at 2-decimal precision."""
    if prediction is None:
        return False
    gold_value = extract_number(str(gold)) if isinstance(gold, str) else float(gold)
    return gold_value is not None and round(prediction, 2) == round(gold_value, 2)


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """Score one generation; ``acc`` so the language group averages it with the rest.

    ``exact_match`` carries the same value under the name lm-eval's mgsm uses.
    """
    score = float(is_correct(extract_number(results[0]), doc["answer_number"]))
    return {"acc": score, "exact_match": score}
