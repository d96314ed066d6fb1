"""The data that passes between stages: column names, row types and file layouts.

Stages share only what is declared here. A collected SFT dataset (one per teacher x
language) has the columns of :data:`SFT_COLUMNS`; see the README's "Data schemas".
"""

from __future__ import annotations

from enum import Enum
from typing import Any, TypedDict


class Strategy(str, Enum):
    """How the teacher produced a pair (METHOD.md, "three generation strategies")."""

    GENERATE = "generate"
    TRANSLATE = "translate"
    RESPOND = "respond"


STRATEGIES: tuple[str, ...] = tuple(s.value for s in Strategy)


class InvalidReason(str, Enum):
    """Why a teacher output is not trained on. Kept with the raw row, never dropped."""

    EMPTY = "empty"  # nothing generated, or an empty prompt/response after parsing
    UNPARSEABLE = "unparseable"  # no JSON object with the expected fields
    MISSING_FIELD = "missing_field"  # JSON found, "prompt" or "response" missing
    TRUNCATED = "truncated"  # output cut off (max_gen_toks reached mid-JSON)
    REFUSAL = "refusal"  # the teacher declined
    WRONG_LANGUAGE = "wrong_language"  # lingua says it is not the target language


class Message(TypedDict):
    role: str
    content: str


class SeedRow(TypedDict, total=False):
    """One seed example; bundled seeds and ``polyglot-harness seeds`` output alike."""

    seed_id: str  # stable, e.g. "de-0007" or "hs3-<hash>"
    language: str  # ISO 639-1
    prompt: str
    response: str  # may be empty for prompt-only sources
    source: str  # where it came from (dataset id or "bundled")


class TaskDoc(TypedDict):
    """One lm-eval document of a ``polyglot_{strategy}_{lang}`` task."""

    seed_id: str
    seed_ids: list[str]  # the seeds the teacher saw (3 for generate, 1 otherwise)
    language: str
    strategy: str
    category: str  # generate: one of the 10 categories; "" otherwise
    source_prompt: str  # translate: the English source; respond: the prompt; "" for generate
    system_prompt: str
    user_prompt: str
    target: str  # unused by metrics; lm-eval requires a target


class SFTRow(TypedDict):
    """One row of a collected dataset (HF ``datasets``, saved as parquet)."""

    messages: list[Message]  # [user, assistant] — TRL's conversational format
    prompt: str
    response: str
    language: str
    strategy: str
    category: str
    teacher: str
    seed_id: str
    valid: bool
    invalid_reason: str | None
    detected_language: str | None
    raw_output: str
    task: str
    doc_id: int
    temperature: float | None
    top_p: float | None
    max_gen_toks: int | None
    generation_kwargs: str  # JSON of everything lm-eval sampled with
    model_args: str  # the teacher's lm-eval model_args, secrets removed
    source_prompt: str
    run_id: str  # lm-eval results timestamp; lineage of the row


SFT_COLUMNS: tuple[str, ...] = tuple(SFTRow.__annotations__)


def sft_row(
    prompt: str, response: str, *, language: str, strategy: str, teacher: str, **fields: Any
) -> SFTRow:
    """One collected row: the pair in TRL's ``messages`` form, every other column defaulted.

    Collect, the offline pipeline's gold reference data and tests all build rows here, so
    the schema has one constructor. ``fields`` overrides any column by name.
    """
    unknown = set(fields) - set(SFT_COLUMNS)
    if unknown:
        raise TypeError(f"not SFT columns: {sorted(unknown)}")
    row: dict[str, Any] = {
        "messages": [
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": response},
        ],
        "prompt": prompt,
        "response": response,
        "language": language,
        "strategy": strategy,
        "category": "",
        "teacher": teacher,
        "seed_id": "",
        "valid": True,
        "invalid_reason": None,
        "detected_language": language,
        "raw_output": response,
        "task": f"polyglot_{strategy}_{language}",
        "doc_id": -1,
        "temperature": None,
        "top_p": None,
        "max_gen_toks": None,
        "generation_kwargs": "{}",
        "model_args": "",
        "source_prompt": "",
        "run_id": "",
    }
    row.update(fields)
    return SFTRow(**row)  # type: ignore[typeddict-item]


# Files a collected dataset directory holds: <out>/<teacher>/<lang>/data.parquet
DATA_FILE = "data.parquet"


def sft_features() -> Any:
    """The ``datasets.Features`` of a collected dataset (import of datasets deferred)."""
    from datasets import Features, Value

    message = {"role": Value("string"), "content": Value("string")}
    from datasets import List

    return Features(
        {
            "messages": List(message),
            "prompt": Value("string"),
            "response": Value("string"),
            "language": Value("string"),
            "strategy": Value("string"),
            "category": Value("string"),
            "teacher": Value("string"),
            "seed_id": Value("string"),
            "valid": Value("bool"),
            "invalid_reason": Value("string"),
            "detected_language": Value("string"),
            "raw_output": Value("string"),
            "task": Value("string"),
            "doc_id": Value("int64"),
            "temperature": Value("float64"),
            "top_p": Value("float64"),
            "max_gen_toks": Value("int64"),
            "generation_kwargs": Value("string"),
            "model_args": Value("string"),
            "source_prompt": Value("string"),
            "run_id": Value("string"),
        }
    )
