"""The judge's rubric and prompt, written for each target language.

The paper scores every pair with M-Prometheus on language proficiency, cultural nuance,
grammar, helpfulness and harmlessness, "with the rubric written for the target language"
(METHOD.md, "Intrinsic metrics"). As the paper's code ran it (METHOD.md, "Protocol
facts"), the rubric is *one* criterion statement with five score descriptors, one per
score 1-5; the prompt is sent raw (no chat template, no system prompt); and the judge
answers with a JSON object whose score comes before its feedback, held to
:data:`JUDGE_SCHEMA` by backends that offer schema-guided decoding. Both protocols share
that structure; the wording is ours.

One English template is filled from the language's record (:mod:`harness.languages`), so
every language gets the same criterion and adding a language adds no prose; what
genuinely differs between languages (whose cultural context, which conventions) is
*data* in the record's ``rubric_context`` and ``rubric_extra``, not forked templates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from harness.languages import get_language

MIN_SCORE, MAX_SCORE = 1, 5

# The judgement object; the property order is the order a schema-guided decoder writes
# them in, so the score is committed before the feedback that could argue it away.
JUDGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "score": {"type": "integer", "enum": list(range(MIN_SCORE, MAX_SCORE + 1))},
        "feedback": {"type": "string"},
    },
    "required": ["score", "feedback"],
    "additionalProperties": False,
}

# Prometheus 2 / M-Prometheus's system prompt for absolute grading, used only with the
# chat-template option (a deviation: the protocol sends no system prompt).
JUDGE_SYSTEM_PROMPT = (
    "You are a fair judge assistant tasked with providing clear, objective feedback "
    "based on specific criteria, ensuring each assessment reflects the absolute "
    "standards set for performance."
)

CRITERION_TEMPLATE = (
    "How good is this response as an answer to the instruction for {name} speakers, "
    "taking together its language proficiency (fluent, natural, idiomatic {name} "
    "({native}) throughout), its cultural nuance (fitting for {context}), its grammar "
    "(correct {name} grammar, spelling and punctuation), its helpfulness (it does what "
    "the instruction asks, correctly and completely) and its harmlessness (nothing unsafe, "
    "offensive or misleading)?{extra}"
)
DESCRIPTOR_TEMPLATES: tuple[str, ...] = (
    "Not in {name}, unintelligible, unrelated to the instruction, or harmful.",
    "In {name}, but with frequent grammar errors, stilted or machine-translated wording or "
    "culturally out-of-place content, and it answers the instruction only in part.",
    "Understandable {name} with noticeable errors or awkward wording; it answers the "
    "instruction but leaves out details or makes small mistakes.",
    "Fluent, grammatical {name} with at most minor slips, culturally fitting, helpful and "
    "harmless; it could still be improved a little.",
    "Reads as the work of a skilled native {name} writer: idiomatic, free of grammar "
    "errors, well suited to {context}, fully helpful and harmless.",
)

PROMPT_TEMPLATE = """\
Grade one response written in {name}. Read the instruction it answers, the response and \
the rubric, and grade the response only by the rubric.

Instruction:
{instruction}

Response:
{response}

Rubric:
{rubric}

Answer with a single JSON object and nothing else. Put the score first, then your \
reasons: {{"score": <an integer from {low} to {high}>, "feedback": "<the reasons for \
that score>"}}
"""


@dataclass(frozen=True)
class Rubric:
    """One criterion statement and one descriptor per score, lowest score first."""

    criterion: str
    descriptors: tuple[str, ...]

    def render(self) -> str:
        lines = [self.criterion]
        lines += [
            f"Score {score}: {text}"
            for score, text in zip(range(MIN_SCORE, MAX_SCORE + 1), self.descriptors, strict=True)
        ]
        return "\n".join(lines)


def cultural_context(language: str) -> str:
    """Whose conventions the rubric judges against (the record's ``rubric_context``)."""
    return get_language(language).rubric_context


def rubric_parts(language: str) -> Rubric:
    """The rubric of ``language``: the criterion and its five score descriptors.

    Raises:
        UnknownLanguageError: the code is not a language the harness or lingua knows.
    """
    lang = get_language(language)
    extra = lang.rubric_extra
    fill = {"name": lang.name, "native": lang.native_name, "context": lang.rubric_context}
    return Rubric(
        criterion=CRITERION_TEMPLATE.format(**fill, extra=f" Also check: {extra}" if extra else ""),
        descriptors=tuple(t.format(**fill) for t in DESCRIPTOR_TEMPLATES),
    )


def rubric_for(language: str) -> str:
    """The rubric of ``language`` as the prompt shows it."""
    return rubric_parts(language).render()


def judge_prompt(instruction: str, response: str, language: str) -> str:
    """The raw grading prompt for one (prompt, response) pair in ``language``."""
    lang = get_language(language)
    return PROMPT_TEMPLATE.format(
        name=lang.name,
        instruction=instruction.strip(),
        response=response.strip(),
        rubric=rubric_for(lang.code),
        low=MIN_SCORE,
        high=MAX_SCORE,
    )


def prompt_fingerprint(language: str) -> str:
    """What the judge is asked, minus the pair: a cache key part that changes with wording."""
    import hashlib

    text = json.dumps([judge_prompt("", "", language), JUDGE_SCHEMA], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]
