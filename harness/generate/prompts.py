"""What the teacher is told: system prompt, the three strategies, the 10 categories.

The structure follows the paper's released code (METHOD.md, "Protocol facts"); the
wording is ours. Instructions are in English, naming the target language, because every
teacher in the grid follows English instructions best; the *output* must be in the
target language. Under the ``paper`` protocol nothing checks that it is (the
``langid_validity`` correction does).
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.languages import Language
from harness.schema import SeedRow

# slug -> how the category is described to the teacher (METHOD.md's ten). The teacher
# sees all ten and picks one itself, so the documents never fix a category.
CATEGORIES: dict[str, str] = {
    "reasoning": "logical reasoning or error analysis: a problem whose answer needs a short "
    "chain of reasoning, or a flawed argument whose mistake must be found",
    "math": "mathematics with explanation: a word problem whose answer shows the working",
    "classification": "classification: sort or label given items and justify briefly",
    "dialogue": "dialogue or role-play: the user sets a scene; the answer stays in role",
    "translation": "translation or paraphrase with constraints (register, length, words to "
    "keep or avoid)",
    "procedure": "procedural steps: how to do something, as clear numbered steps",
    "grammar": "grammar or linguistic analysis of a sentence or word in the language",
    "creative": "short creative writing of at most 50 words (poem, slogan, micro-story)",
    "knowledge": "knowledge recall with verification: a factual question whose answer "
    "states the fact and how one could check it",
    "cultural": "cultural or pragmatic judgement: what is appropriate or polite in a "
    "situation typical of places where the language is spoken",
}

SYSTEM_PROMPT = (
    "You are a fluent, native-level expert in {name} ({native}). You write natural, "
    "idiomatic and grammatical {name} suited to the cultures where it is spoken, and "
    "you give accurate, helpful and safe answers. Unless told otherwise, write only in "
    "{name}."
)

# The JSON shape is spelled out for backends without schema-guided decoding; the
# others are held to harness.protocol.PAIR_SCHEMA by the doc's schema key.
_JSON_REPLY = (
    "Reply with a single JSON object and nothing else, in exactly this form:\n"
    '{{"prompt": "<{what} in {name}>", "response": "<{answer} in {name}>"}}'
)


def _json_reply(language: Language, what: str, answer: str) -> str:
    return _JSON_REPLY.format(what=what, answer=answer, name=language.name)


GENERATE_PROMPT = """Here are {k} example tasks in {name}, each a prompt followed by its response.

{examples}

Now write one new, genuinely difficult task in {name}, with an excellent response in {name}. Pick one of the following task types at random, and do not say which one you picked:
{categories}
The new task must differ clearly from the examples in topic, form and wording, so that many such tasks together cover a wide range.

"""

TRANSLATE_PROMPT = """Translate the English prompt below into {name}, then answer your translation in {name}.

English prompt:
{source}

"""

RESPOND_PROMPT = """Answer the following prompt in {name}.

{prompt}"""


def system_prompt(language: Language) -> str:
    """The system prompt casting the teacher as a fluent expert in ``language``."""
    return SYSTEM_PROMPT.format(name=language.name, native=language.native_name)


def _example_block(seed: SeedRow) -> str:
    response = (seed.get("response") or "").strip()
    block = f"Prompt: {seed['prompt'].strip()}"
    return f"{block}\nResponse: {response}" if response else block


def generate_prompt(language: Language, examples: Sequence[SeedRow]) -> str:
    """The *generate* user turn: ``examples`` in, one new JSON pair out.

    The category list is the same in every document and the teacher chooses from it,
    as in the paper: a category fixed per document would change what is sampled.
    """
    blocks = "\n\n".join(_example_block(ex) for ex in examples)
    categories = "\n".join(f"{i}. {text}" for i, text in enumerate(CATEGORIES.values(), 1))
    task = GENERATE_PROMPT.format(
        k=len(examples), name=language.name, examples=blocks, categories=categories
    )
    return task + _json_reply(language, "the new task", "the response")


def translate_prompt(language: Language, source: str) -> str:
    """The *translate* user turn: an English seed in, translated prompt + answer out.

    A plain translation: the paper asks for no adaptation of names, units or culture.
    """
    task = TRANSLATE_PROMPT.format(name=language.name, source=source.strip())
    return task + _json_reply(language, "the translated prompt", "your answer")


def respond_prompt(language: Language, prompt: str) -> str:
    """The *respond* user turn: the seed prompt inside a short English instruction.

    The instruction names the answer's language, as the paper's code does, so the
    language request does not rest on the system prompt alone.
    """
    return RESPOND_PROMPT.format(name=language.name, prompt=prompt.strip())
