"""What the teacher is told: system prompt, the three strategies, the 10 categories.

The wording is ours (METHOD.md describes the paper's prompts; we do not copy them).
Prompts are written in English, naming the target language, because every teacher in
the grid follows English instructions best; the *output* must be in the target
language, which validity checks with language ID.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.languages import Language
from harness.schema import SeedRow

# slug -> the instruction the teacher gets for that category (METHOD.md's ten).
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

GENERATE_PROMPT = """Below are {k} examples of instructions written in {name}, each with a good answer.

{examples}

Write ONE new instruction in {name} with an excellent answer in {name}. It must be different from the examples and belong to this task category: {category}.
Reply with a single JSON object and nothing else, in exactly this form:
{{"prompt": "<the new instruction in {name}>", "response": "<the answer in {name}>"}}"""

TRANSLATE_PROMPT = """Translate the following English instruction into natural {name}, adapting names, units and cultural references where that makes it more natural for {name} speakers. Then answer the translated instruction in {name}.

English instruction:
{source}

Reply with a single JSON object and nothing else, in exactly this form:
{{"prompt": "<the instruction in {name}>", "response": "<your answer in {name}>"}}"""


def system_prompt(language: Language) -> str:
    """The system prompt casting the teacher as a fluent expert in ``language``."""
    return SYSTEM_PROMPT.format(name=language.name, native=language.native_name)


def _example_block(i: int, seed: SeedRow) -> str:
    response = seed.get("response") or ""
    block = f"Example {i}\nInstruction: {seed['prompt'].strip()}"
    return f"{block}\nAnswer: {response.strip()}" if response.strip() else block


def generate_prompt(language: Language, examples: Sequence[SeedRow], category: str) -> str:
    """The *generate* user turn: ``examples`` in, one new JSON pair of ``category`` out."""
    blocks = "\n\n".join(_example_block(i + 1, ex) for i, ex in enumerate(examples))
    return GENERATE_PROMPT.format(
        k=len(examples), name=language.name, examples=blocks, category=CATEGORIES[category]
    )


def translate_prompt(language: Language, source: str) -> str:
    """The *translate* user turn: an English seed in, translated prompt + answer out."""
    return TRANSLATE_PROMPT.format(name=language.name, source=source.strip())


def respond_prompt(prompt: str) -> str:
    """The *respond* user turn is the target-language prompt itself, unchanged.

    The system prompt already fixes the answer's language; wrapping the prompt in
    English instructions would change what is being answered.
    """
    return prompt.strip()
