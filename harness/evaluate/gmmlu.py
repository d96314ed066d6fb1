"""Global-MMLU-Lite as the paper prompts it: localised cue words, letter choice.

The paper scores zero-shot letter choice by log-likelihood with the question and answer
cue words in the target language (``Frage:`` ... ``Antwort:``), not lm-eval's English
``Answer:``; the letters and the options stay as the dataset gives them. The cue words
are per-language facts: the record's ``mc_question_cue`` and ``mc_answer_cue``.
"""

from __future__ import annotations

from harness.languages import Language


def doc_to_text_template(language: Language) -> str:
    """The Jinja ``doc_to_text`` of one language's Global-MMLU-Lite leaf task.

    Raises:
        ConfigError: the language's record lacks ``mc_question_cue`` or ``mc_answer_cue``
            (the message names the file and the field).
    """
    question = language.require("mc_question_cue", "Global-MMLU-Lite")
    answer = language.require("mc_answer_cue", "Global-MMLU-Lite")
    options = "".join(f"\n{letter}. {{{{option_{letter.lower()}}}}}" for letter in "ABCD")
    space = "" if question.endswith("：") else " "  # full-width colon: no space
    return f"{question}{space}{{{{question.strip()}}}}{options}\n{answer}"
