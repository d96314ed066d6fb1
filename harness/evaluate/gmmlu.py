"""Global-MMLU-Lite as the paper prompts it: localised cue words, letter choice.

The paper scores zero-shot letter choice by log-likelihood with the question and answer
cue words in the target language (``Frage:`` ... ``Antwort:``), not lm-eval's English
``Answer:``; the letters and the options stay as the dataset gives them. The cue words
are per-language facts, so they live in :mod:`harness.languages`.
"""

from __future__ import annotations

from harness.errors import ConfigError
from harness.languages import Language


def doc_to_text_template(language: Language) -> str:
    """The Jinja ``doc_to_text`` of one language's Global-MMLU-Lite leaf task.

    Raises:
        ConfigError: the language has no cue words in the table.
    """
    if not (language.question_cue and language.answer_cue):
        raise ConfigError(
            f"Global-MMLU-Lite needs localised cue words for {language.code!r}: set "
            "question_cue and answer_cue in harness/languages.py"
        )
    options = "".join(f"\n{letter}. {{{{option_{letter.lower()}}}}}" for letter in "ABCD")
    space = "" if language.question_cue.endswith("：") else " "  # full-width colon: no space
    return f"{language.question_cue}{space}{{{{question.strip()}}}}{options}\n{language.answer_cue}"
