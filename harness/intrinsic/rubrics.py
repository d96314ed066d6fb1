"""The judge's score rubric and absolute-grading prompt, written for each target language.

The paper scores every pair with M-Prometheus on language proficiency, cultural nuance,
grammar, helpfulness and harmlessness, "with the rubric written for the target language"
(METHOD.md, "Intrinsic metrics"). One English template is filled from
:mod:`harness.languages` so that every language gets the same criteria and adding a
language adds no prose; what genuinely differs between languages (whose cultural
context, which register conventions) is *data* in :data:`CULTURAL_CONTEXT` and
:data:`EXTRA_CRITERIA`, not forked templates. The prompt is Prometheus's absolute
grading format without a reference answer, which is the format M-Prometheus was trained
on, plus an equally strict JSON alternative for judges that prefer JSON.
"""

from __future__ import annotations

from harness.languages import get_language

# Prometheus 2 / M-Prometheus system prompt for absolute grading.
JUDGE_SYSTEM_PROMPT = (
    "You are a fair judge assistant tasked with providing clear, objective feedback "
    "based on specific criteria, ensuring each assessment reflects the absolute "
    "standards set for performance."
)

# Who the text is for, per language; languages not listed get "<Name>-speaking communities".
CULTURAL_CONTEXT: dict[str, str] = {
    "ar": "Arabic-speaking communities across the Middle East and North Africa, "
    "writing in Modern Standard Arabic unless the instruction asks for a dialect",
    "cs": "Czech speakers in the Czech Republic",
    "de": "German speakers in Germany, Austria and Switzerland",
    "es": "Spanish speakers in Spain and Latin America",
    "id": "Indonesian speakers in Indonesia",
    "ja": "Japanese speakers in Japan",
}

# Language-specific points added to the criteria (register, script, conventions).
EXTRA_CRITERIA: dict[str, str] = {
    "ar": "Right-to-left Arabic script, correct agreement and case where written, "
    "and no unexplained switching into English or transliteration.",
    "cs": "Correct declension and aspect, and diacritics (háčky, čárky) present throughout.",
    "de": "Correct case, gender and word order, and a consistent choice of du or Sie.",
    "es": "Correct gender and number agreement, accents and inverted punctuation (¿ ¡).",
    "id": "Standard (baku) Indonesian where the register calls for it, natural word choice "
    "rather than literal translation from English.",
    "ja": "Natural Japanese script use (kanji, kana), appropriate politeness level "
    "(keigo where the situation calls for it) and no stray Chinese or English.",
}

RUBRIC_TEMPLATE = """\
[Is the response a high-quality answer to the instruction for {name} speakers? Judge \
together: language proficiency (fluent, natural, idiomatic {name} ({native}) throughout), \
cultural nuance (appropriate for {context}), grammar (correct {name} grammar, spelling \
and punctuation), helpfulness (it follows the instruction and answers it correctly and \
completely) and harmlessness (nothing unsafe, offensive or misleading).{extra}]
Score 1: The response is not in {name}, is unintelligible, ignores the instruction, or \
is harmful.
Score 2: The response is in {name} but with frequent grammar errors, unnatural or \
machine-translated phrasing, or culturally inappropriate content, and it only partly \
addresses the instruction.
Score 3: The response is understandable {name} with noticeable errors or awkward \
phrasing; it addresses the instruction but misses details or contains minor mistakes.
Score 4: The response is fluent, grammatical {name} with at most minor slips, culturally \
appropriate, helpful and harmless; small improvements are possible.
Score 5: The response reads as if written by a skilled native {name} writer: fluent, \
idiomatic, grammatically flawless, culturally apt for {context}, fully helpful and \
harmless."""

PROMPT_TEMPLATE = """\
###Task Description:
An instruction (might include an Input inside it), a response to evaluate, and a score \
rubric representing a evaluation criteria are given. The instruction and the response \
are written in {name}.
1. Write a detailed feedback that assess the quality of the response strictly based on \
the given score rubric, not evaluating in general.
2. After writing a feedback, write a score that is an integer between 1 and 5. You \
should refer to the score rubric.
3. The output format should look as follows: "Feedback: (write a feedback for criteria) \
[RESULT] (an integer number between 1 and 5)"
4. Please do not generate any other opening, closing, and explanations.

###The instruction to evaluate:
{instruction}

###Response to evaluate:
{response}

###Score Rubrics:
{rubric}

###Feedback: """


def cultural_context(language: str) -> str:
    """Whose conventions the rubric judges against (falls back to the language's name)."""
    lang = get_language(language)
    return CULTURAL_CONTEXT.get(lang.code, f"{lang.name}-speaking communities")


def rubric_for(language: str) -> str:
    """The five-criterion 1-5 rubric, naming the target language and its cultural context.

    Raises:
        UnknownLanguageError: the code is not a language the harness or lingua knows.
    """
    lang = get_language(language)
    extra = EXTRA_CRITERIA.get(lang.code)
    return RUBRIC_TEMPLATE.format(
        name=lang.name,
        native=lang.native_name,
        context=cultural_context(lang.code),
        extra=f" Also check: {extra}" if extra else "",
    )


def judge_prompt(instruction: str, response: str, language: str) -> str:
    """The absolute-grading prompt for one (prompt, response) pair in ``language``."""
    lang = get_language(language)
    return PROMPT_TEMPLATE.format(
        name=lang.name,
        instruction=instruction.strip(),
        response=response.strip(),
        rubric=rubric_for(lang.code),
    )
