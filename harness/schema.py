"""The data that passes between stages: column names, row types and file layouts.

Stages share only what is declared here. A collected SFT dataset (one per teacher x
language) has the columns of :data:`SFT_COLUMNS`; see the README's "Data schemas".
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import Any, TypedDict

from harness.errors import InputNotFoundError, SchemaError
from harness.naming import DATA_FILE as DATA_FILE  # re-exported: stages import it from here
from harness.naming import generation_task


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
    UNDETERMINED_LANGUAGE = "undetermined_language"  # too little text to tell its language


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
    category: str  # "": the generate teacher picks a category itself and does not name it
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
    invalid_reason: str | None  # what decided ``valid`` under the dataset's protocol
    detected_language: str | None
    # What the refusal / language corrections say about a pair that parses, recorded under
    # every protocol: rows a correction would drop are countable without re-collecting.
    correction_reason: str | None
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
        "correction_reason": None,
        "raw_output": response,
        "task": generation_task(strategy, language),
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
            "correction_reason": Value("string"),
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


# --- reading a collected dataset -----------------------------------------------------------

# Columns every stage that reads a collected dataset relies on: lineage (teacher, language,
# seed_id), the verdict (valid) and the pair itself.
REQUIRED_COLUMNS: tuple[str, ...] = (
    "prompt", "response", "language", "teacher", "seed_id", "valid",
)  # fmt: skip

# The Arrow kind each SFT column must have when read, and whether it may hold nulls. A
# ``valid`` read as float would turn NaN into True (``bool(nan)``), so kinds are checked,
# not coerced.
_KINDS: dict[str, tuple[str, bool]] = {
    "messages": ("list", False), "prompt": ("string", True), "response": ("string", True),
    "language": ("string", False), "strategy": ("string", False), "category": ("string", True),
    "teacher": ("string", False), "seed_id": ("string", True), "valid": ("bool", False),
    "invalid_reason": ("string", True), "detected_language": ("string", True),
    "correction_reason": ("string", True),
    "raw_output": ("string", True), "task": ("string", True), "doc_id": ("integer", True),
    "temperature": ("number", True), "top_p": ("number", True), "max_gen_toks": ("integer", True),
    "generation_kwargs": ("string", True), "model_args": ("string", True),
    "source_prompt": ("string", True), "run_id": ("string", True),
}  # fmt: skip


def _kind_matches(kind: str, arrow_type: Any, nullable: bool) -> bool:
    import pyarrow.types as pat

    if pat.is_null(arrow_type):  # every value null: only a nullable column may be
        return nullable
    checks = {
        "string": lambda t: pat.is_string(t) or pat.is_large_string(t) or pat.is_string_view(t),
        "bool": pat.is_boolean,
        "integer": pat.is_integer,
        "number": lambda t: pat.is_floating(t) or pat.is_integer(t),
        "list": lambda t: pat.is_list(t) or pat.is_large_list(t) or pat.is_list_view(t),
    }
    return bool(checks[kind](arrow_type))


def _check_column(path: Path, name: str, column: Any) -> None:
    """Raise :class:`SchemaError` when a column's type, nulls or UTF-8 break the schema."""
    import pyarrow as pa

    kind, nullable = _KINDS[name]
    if not _kind_matches(kind, column.type, nullable):
        raise SchemaError(
            f"{path}: column {name!r} is {column.type}, expected {kind}"
            f"{'' if nullable else ' without nulls'}; re-collect it with `polyglot-harness collect`"
        )
    if not nullable and column.null_count:
        raise SchemaError(
            f"{path}: column {name!r} holds {column.null_count} null value(s) of "
            f"{len(column)}; every row needs a {kind}: re-collect it with `polyglot-harness collect`"
        )
    if kind in ("string", "list"):
        try:
            column.validate(full=True)  # UTF-8 of strings, nested ones included
        except pa.ArrowInvalid:
            raise SchemaError(
                f"{path}: column {name!r} holds invalid UTF-8; re-collect it, or re-encode the "
                "file as UTF-8"
            ) from None


def read_collected(
    path: str | Path, columns: Sequence[str] | None = None, *, require: Sequence[str] = ()
) -> Any:
    """Read a collected dataset's parquet, enforcing the SFT schema on what is read.

    Every stage that reads collected data (intrinsic, judge, train) goes through here,
    so a damaged or foreign file fails the same way everywhere: one line naming the file
    and the column, never a traceback and never a silent misreading (a ``valid`` column
    of NaN once counted as all-valid).

    Args:
        path: the ``data.parquet`` file.
        columns: columns to read; all of the file's by default. Those of
            :data:`REQUIRED_COLUMNS` must exist whatever is read.
        require: further columns that must exist (a stage's own needs).

    Returns:
        A ``pyarrow.Table`` of the requested columns, in that order.

    Raises:
        InputNotFoundError: the file does not exist.
        SchemaError: not a parquet file, a required or requested column is missing, or a
            column has the wrong type, nulls where none are allowed, or invalid UTF-8.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"{path} does not exist; run `polyglot-harness collect` first")
    try:
        names = pq.ParquetFile(path).schema_arrow.names
    except (pa.ArrowException, OSError) as exc:
        raise SchemaError(f"{path}: not a readable parquet file ({exc})") from None
    wanted = list(columns) if columns is not None else list(names)
    missing = [c for c in dict.fromkeys([*REQUIRED_COLUMNS, *require, *wanted]) if c not in names]
    if missing:
        raise SchemaError(
            f"{path}: column(s) {', '.join(map(repr, missing))} missing; not a collected dataset "
            "(see harness/schema.py; run `polyglot-harness collect`)"
        )
    try:
        table = pq.read_table(path, columns=wanted)
    except (pa.ArrowException, OSError) as exc:
        raise SchemaError(f"{path}: not a readable parquet file ({exc})") from None
    for name in wanted if table.num_rows else ():  # no rows: the caller says "empty"
        if name in _KINDS:
            _check_column(path, name, table.column(name))
    return table


def fingerprint_content(path: str | Path) -> str:
    """Size and SHA-256 of a file's bytes: the identity of an input for every resume check.

    Content, not mtime: re-running ``collect`` rewrites byte-identical files, and that
    must not throw away hours of cached judging or a half-trained student. Hashing is
    memoised per (path, size, mtime) in this process, so a 1 GB file is read once.
    """
    path = Path(path)
    stat = path.stat()
    memo_key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if memo_key not in _DIGESTS:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _DIGESTS[memo_key] = f"{stat.st_size}-{digest.hexdigest()[:32]}"
    return _DIGESTS[memo_key]


_DIGESTS: dict[tuple[str, int, int], str] = {}
