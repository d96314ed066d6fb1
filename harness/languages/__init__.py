"""The language records; everything language-specific derives from them.

Each language is one YAML record under ``harness/languages/data/`` (schema:
:class:`~harness.languages.record.Language`) with its seed file under
``harness/seeds_data/``. A user adds a language without editing the package through a
language pack (:mod:`harness.languages.packs`): a record plus its seed file, found
through ``$POLYGLOT_HARNESS_LANGUAGE_PACKS``, :func:`register_pack` or an entry point;
its generation tasks are written when lm-eval loads tasks (:mod:`harness.autoload`).

Any other ISO 639-1 code that lingua knows is still accepted by the API (for collecting,
judging and scoring) as a record derived from lingua (:func:`get_language`): English
name, no script, no benchmarks, no refusal openings of its own.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from harness.errors import ConfigError, UnknownLanguageError
from harness.languages import packs
from harness.languages.packs import ENTRY_POINT_GROUP, PACKS_ENV, unregister_pack
from harness.languages.record import Language, load_record
from harness.paths import seeds_path

__all__ = [
    "ENTRY_POINT_GROUP",
    "GRID",
    "LANGUAGES",
    "PACKS_ENV",
    "SOURCE_LANGUAGE",
    "Language",
    "generation_languages",
    "get_language",
    "lingua_codes",
    "load_record",
    "pack_languages",
    "parse_languages",
    "register_pack",
    "unregister_pack",
]

DATA_DIR = Path(__file__).resolve().parent / "data"
# The language the translate strategy's sources are written in (a record, not in the grid).
SOURCE_CODE = "en"
# Languages written without spaces between words, for codes without a record (lingua
# names no script); a record says it in ``spaces_between_words``.
_UNSPACED_WITHOUT_RECORD = frozenset({"ja", "zh", "th", "lo", "km", "my", "bo"})


def _bundled() -> dict[str, Language]:
    return {p.stem: load_record(p, seeds_dir=seeds_path()) for p in sorted(DATA_DIR.glob("*.yaml"))}


_BUNDLED = _bundled()
SOURCE_LANGUAGE: Language = _BUNDLED[SOURCE_CODE]
# The grid: every bundled record but the source language, by code.
LANGUAGES: dict[str, Language] = {c: lang for c, lang in _BUNDLED.items() if c != SOURCE_CODE}
GRID: tuple[str, ...] = tuple(LANGUAGES)


def pack_languages() -> dict[str, Language]:
    """The languages added by packs, by code (see :mod:`harness.languages.packs`).

    Raises:
        ConfigError: a pack is invalid or redefines a language.
    """
    return packs.pack_languages(frozenset(_BUNDLED))


def register_pack(path: str | Path) -> list[Language]:
    """Add a language pack (a folder of records, or one record) to this process.

    Raises:
        ConfigError: the pack is invalid or redefines a language (one line naming the
            file and the field).
    """
    return packs.register_pack(path, bundled=frozenset(_BUNDLED))


def generation_languages() -> tuple[str, ...]:
    """Codes with generation tasks: the grid, then every pack language."""
    return (*GRID, *pack_languages())


def lingua_codes() -> dict[str, str]:
    """lingua language name -> our code, for every record that names one."""
    records = [*_BUNDLED.values(), *pack_languages().values()]
    return {r.lingua: r.code for r in records if r.lingua}


@cache
def _from_lingua(key: str) -> Language:
    from lingua import IsoCode639_1
    from lingua import Language as LinguaLanguage

    try:
        lingua_lang = LinguaLanguage.from_iso_code_639_1(IsoCode639_1.from_str(key))
    except (ValueError, AttributeError) as exc:
        raise UnknownLanguageError(key, [*GRID, *pack_languages()]) from exc
    name = lingua_lang.name.title()
    return Language(
        code=key,
        name=name,
        native_name=name,
        script=None,
        spaces_between_words=key not in _UNSPACED_WITHOUT_RECORD,
        lingua=lingua_lang.name,
        refusal_openings=(),
        rubric_context=f"{name}-speaking communities",
    )


def get_language(code: str) -> Language:
    """Look a language up by code: bundled records, then packs, then lingua's list.

    Raises:
        UnknownLanguageError: neither a record nor lingua knows the code.
        ConfigError: a language pack is invalid.
    """
    key = code.strip().lower()
    if key in _BUNDLED:
        return _BUNDLED[key]
    found = pack_languages().get(key)
    return found if found is not None else _from_lingua(key)


def parse_languages(spec: str | list[str] | None) -> list[Language]:
    """Parse ``"de,es"`` / ``["de", "es"]`` / ``None`` (the grid) into languages.

    Raises:
        ConfigError: the spec names no language (``","``): running on nothing would
            succeed while producing nothing.
        UnknownLanguageError: a code neither a record nor lingua knows.
    """
    if spec is None or spec == "" or spec == "all":
        return [LANGUAGES[c] for c in GRID]
    if not isinstance(spec, (str, list, tuple)):  # a number or a mapping from a YAML file
        raise ConfigError(f"languages must be a list or comma-separated codes, not {spec!r}")
    codes = spec.split(",") if isinstance(spec, str) else spec
    found = [get_language(str(c)) for c in codes if str(c).strip()]
    if not found:
        raise ConfigError(
            f"no language code in {spec!r}: give comma-separated ISO 639-1 codes such as "
            f"{','.join(GRID[:2])}, or leave it out for the grid ({','.join(GRID)})"
        )
    return found
