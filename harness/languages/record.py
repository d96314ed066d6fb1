"""One language's facts as a typed record, read from a YAML file of the same fields.

Every per-language fact the harness uses lives in the record: names, script, whether
words are separated by spaces, the lingua language that detects it, the labels seed
sources give it, refusal openings, the judge's cultural context, which benchmarks exist
and each benchmark's localised words. Modules read them from here and never keep tables
of their own, so adding a language is one YAML file (plus its seed file) and a forgotten
fact is an error at load time that names the file and the field, not a silent default.

Optional fields are facts a language may genuinely lack: a language without MGSM has no
MGSM cue words. Whether the benchmarks a record lists find every fact they need is
checked by :func:`harness.evaluate.benchmarks.check_language` (a language pack is
checked when it loads; the bundled records by a test).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

_CODE = re.compile(r"^[a-z]{2,3}$")


@dataclass(frozen=True, kw_only=True)
class Language:
    """A language and everything the harness knows about it.

    Attributes:
        code: ISO 639-1 code (ISO 639-3 where a language has none); names tasks and files.
        name: English name, used in prompts to the teacher and to the judge.
        native_name: the language's name for itself.
        script: ISO 15924 script code (None only for languages without a record).
        spaces_between_words: False for scripts written without spaces (Japanese):
            surface diversity is then counted in characters, not words.
        lingua: the name of the ``lingua.Language`` that detects this language (None:
            lingua cannot, so the language-ID correction keeps every row).
        source_labels: labels seed sources use for it beyond its codes and names
            (``arb``, ``modern standard arabic``), lower case.
        refusal_openings: regular expressions for how a refusal opens in this language,
            matched case-insensitively against the start of a response.
        rubric_context: whose conventions the judge's rubric measures the text against.
        rubric_extra: language-specific points the rubric adds (script, register).
        flores: FLORES-200 code, as M-RewardBench and Belebele name their configs.
        paper_benchmarks: the benchmarks the paper scores this language on.
        extended_benchmarks: benchmarks added so every language has at least two.
        mgsm_question_cue: the prefix MGSM's train split writes before a question.
        mgsm_instruction: MGSM's native "answer with only the number" line.
        mc_question_cue: multiple-choice cue before the question (Global-MMLU-Lite).
        mc_answer_cue: multiple-choice cue before the answer letter.
        seeds: the bundled seed file (``<code>.jsonl``) the generation tasks draw from.
        record: the YAML file the record was read from (None: derived from lingua).
    """

    code: str
    name: str
    native_name: str
    script: str | None
    spaces_between_words: bool
    lingua: str | None
    refusal_openings: tuple[str, ...]
    rubric_context: str
    rubric_extra: str | None = None
    source_labels: tuple[str, ...] = ()
    flores: str | None = None
    paper_benchmarks: tuple[str, ...] = ()
    extended_benchmarks: tuple[str, ...] = ()
    mgsm_question_cue: str | None = None
    mgsm_instruction: str | None = None
    mc_question_cue: str | None = None
    mc_answer_cue: str | None = None
    seeds: Path | None = None
    record: Path | None = None

    @property
    def where(self) -> str:
        """Where the record's facts come from, for error messages."""
        if self.record is not None:
            return str(self.record)
        return (
            f"language {self.code!r} (no record: add {self.code}.yaml to "
            "harness/languages/data/ or a language pack)"
        )

    def require(self, field: str, purpose: str) -> Any:
        """The value of an optional field that ``purpose`` cannot do without.

        Raises:
            ConfigError: the record lacks it (one line naming the file and the field).
        """
        value = getattr(self, field)
        if value is None or value == ():
            raise ConfigError(f"{self.where}: {purpose} needs field {field!r}, which is not set")
        return value

    @property
    def benchmarks(self) -> tuple[str, ...]:
        """The paper's benchmarks, then the added ones, each once."""
        return tuple(dict.fromkeys((*self.paper_benchmarks, *self.extended_benchmarks)))


# YAML field -> (required, kind). "str?" may be null; "list" is a list of strings.
SCHEMA: dict[str, tuple[bool, str]] = {
    "code": (True, "str"),
    "name": (True, "str"),
    "native_name": (True, "str"),
    "script": (True, "str"),
    "spaces_between_words": (True, "bool"),
    "lingua": (True, "str?"),
    "refusal_openings": (True, "list"),
    "rubric_context": (True, "str"),
    "rubric_extra": (False, "str?"),
    "source_labels": (False, "list"),
    "flores": (False, "str?"),
    "paper_benchmarks": (False, "list"),
    "extended_benchmarks": (False, "list"),
    "mgsm_question_cue": (False, "str?"),
    "mgsm_instruction": (False, "str?"),
    "mc_question_cue": (False, "str?"),
    "mc_answer_cue": (False, "str?"),
    "seeds": (False, "str"),
}


def _read_yaml(path: Path) -> Any:
    import yaml

    from harness.files import unique_key_loader

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the language record ({exc.strerror})") from exc
    try:
        return yaml.load(text, Loader=unique_key_loader())  # a SafeLoader
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f":{where.line + 1}" if where is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}{line}: not valid YAML ({problem})") from exc


def _value(path: Path, key: str, value: Any) -> Any:
    """``value`` checked against the field's kind; lists become tuples."""
    kind = SCHEMA[key][1]
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: field {key!r} must be true or false, not {value!r}")
        return value
    if kind == "list":
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"{path}: field {key!r} must be a list of non-empty strings")
        return tuple(value)
    if value is None and kind == "str?":
        return None
    if isinstance(value, bool):  # YAML 1.1 reads `no`, `yes`, `on`, `off` as booleans
        raise ConfigError(
            f"{path}: field {key!r} reads as the YAML boolean {value}; quote the text "
            f'({key}: "...")'
        )
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{path}: field {key!r} must be a non-empty string, not {value!r}")
    return value


def _check_lingua(path: Path, name: str | None) -> None:
    if name is None:
        return
    from lingua import Language as LinguaLanguage

    known = sorted(lang.name for lang in LinguaLanguage.all())
    if name not in known:
        near = difflib.get_close_matches(name.upper(), known, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise ConfigError(f"{path}: field 'lingua': lingua has no language {name!r}{hint}")


def _check_patterns(path: Path, patterns: tuple[str, ...]) -> None:
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(
                f"{path}: field 'refusal_openings': {pattern!r} is no regular expression ({exc})"
            ) from exc


def load_record(path: str | Path, *, seeds_dir: str | Path | None = None) -> Language:
    """Read and validate one language record.

    Args:
        path: the YAML file, named ``<code>.yaml``.
        seeds_dir: where ``<code>.jsonl`` is when the record names no ``seeds`` file;
            default: the record's own folder (a language pack keeps both side by side).

    Raises:
        ConfigError: the file is unreadable, or a field is unknown (the nearest valid
            one is named), missing, of the wrong type, or inconsistent; one line naming
            the file and the field.
    """
    path = Path(path).expanduser().resolve()
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a language record is a mapping of fields, one per line")
    for key in data:
        if key not in SCHEMA:
            near = difflib.get_close_matches(str(key), list(SCHEMA), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else f"; known: {', '.join(SCHEMA)}"
            raise ConfigError(f"{path}: unknown field {str(key)!r}{hint}")
    for key, (required, _) in SCHEMA.items():
        if required and key not in data:
            raise ConfigError(f"{path}: missing required field {key!r}")
    values = {key: _value(path, key, value) for key, value in data.items()}
    code = values["code"]
    if not _CODE.match(code) or path.stem != code:
        raise ConfigError(
            f"{path}: field 'code' is {code!r}; use a lower-case ISO 639-1 code and name "
            f"the file after it ({code.lower()}.yaml)"
        )
    _check_lingua(path, values["lingua"])
    _check_patterns(path, values["refusal_openings"])
    base = Path(seeds_dir) if seeds_dir is not None else path.parent
    seeds = path.parent / values["seeds"] if "seeds" in values else base / f"{code}.jsonl"
    if not seeds.is_file():
        field = "field 'seeds'" if "seeds" in values else f"no 'seeds' field and no {seeds.name}"
        raise ConfigError(f"{path}: {field}: seed file {seeds} does not exist")
    values["source_labels"] = tuple(v.lower() for v in values.get("source_labels", ()))
    return Language(**{**values, "seeds": seeds.resolve(), "record": path})
