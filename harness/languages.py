"""The one table of languages; everything language-specific derives from it.

Adding a language to the grid is one line here plus its seed file under
``harness/seeds_data/`` (then ``python -m harness.generate.taskgen`` regenerates the
task YAMLs). Any other ISO 639-1 code that lingua knows is still accepted by the
API (for collecting, judging and scoring), with the name taken from lingua.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from harness.errors import ConfigError, UnknownLanguageError


@dataclass(frozen=True)
class Language:
    """A language and what the harness knows about it."""

    code: str  # ISO 639-1
    name: str  # English name, used in prompts to the teacher
    native_name: str
    script: str | None  # ISO 15924
    flores: str | None  # FLORES-200 code, as M-RewardBench and Belebele name configs
    paper_benchmarks: tuple[str, ...] = field(default=())
    extended_benchmarks: tuple[str, ...] = field(default=())
    number_instruction: str | None = None  # MGSM: "answer with only the number"
    # Multiple-choice cue words in front of the question and the answer letter
    # (Global-MMLU-Lite: the paper localises both), each with its colon.
    question_cue: str | None = None
    answer_cue: str | None = None

    @property
    def lingua_name(self) -> str:
        """The upper-case ISO 639-1 code lingua's ``IsoCode639_1`` uses."""
        return self.code.upper()


_MRB = "m_rewardbench"
_GMMLU_LITE = "global_mmlu_lite"
_MGSM = "mgsm"
_BELEBELE = "belebele"
_GMMLU = "global_mmlu"

# code, name, native, script, flores, paper suite, added suite, MGSM instruction,
# then the multiple-choice cue words by keyword
LANGUAGES: dict[str, Language] = {
    lang.code: lang
    for lang in (
        Language("ar", "Arabic", "العربية", "Arab", "arb_Arab",
                 (_GMMLU_LITE, _MRB), (_BELEBELE,),
                 question_cue="السؤال:", answer_cue="الإجابة:"),
        Language("cs", "Czech", "čeština", "Latn", "ces_Latn",
                 (_MRB,), (_BELEBELE, _GMMLU),
                 question_cue="Otázka:", answer_cue="Odpověď:"),
        Language("de", "German", "Deutsch", "Latn", "deu_Latn",
                 (_GMMLU_LITE, _MRB, _MGSM), (_BELEBELE,),
                 "Antworte nur mit der Zahl.",
                 question_cue="Frage:", answer_cue="Antwort:"),
        Language("es", "Spanish", "español", "Latn", "spa_Latn",
                 (_GMMLU_LITE, _MRB, _MGSM), (_BELEBELE,),
                 "Responde solo con el número.",
                 question_cue="Pregunta:", answer_cue="Respuesta:"),
        Language("id", "Indonesian", "Bahasa Indonesia", "Latn", "ind_Latn",
                 (_GMMLU_LITE, _MRB), (_BELEBELE,),
                 question_cue="Pertanyaan:", answer_cue="Jawaban:"),
        Language("ja", "Japanese", "日本語", "Jpan", "jpn_Jpan",
                 (_GMMLU_LITE, _MRB, _MGSM), (_BELEBELE,),
                 "数字だけで答えてください。",
                 question_cue="質問：", answer_cue="回答："),
    )
}  # fmt: skip

# The language the translate strategy's sources are written in.
SOURCE_LANGUAGE = Language("en", "English", "English", "Latn", "eng_Latn")

GRID: tuple[str, ...] = tuple(LANGUAGES)


@cache
def get_language(code: str) -> Language:
    """Look up a language by ISO 639-1 code, falling back to lingua's list.

    Raises:
        UnknownLanguageError: the code is not a language lingua can detect.
    """
    key = code.strip().lower()
    if key in LANGUAGES:
        return LANGUAGES[key]
    if key == SOURCE_LANGUAGE.code:
        return SOURCE_LANGUAGE
    from lingua import IsoCode639_1
    from lingua import Language as LinguaLanguage

    try:
        lingua_lang = LinguaLanguage.from_iso_code_639_1(IsoCode639_1.from_str(key))
    except (ValueError, AttributeError) as exc:
        raise UnknownLanguageError(code, list(LANGUAGES)) from exc
    return Language(key, lingua_lang.name.title(), lingua_lang.name.title(), None, None)


def parse_languages(spec: str | list[str] | None) -> list[Language]:
    """Parse ``"de,es"`` / ``["de", "es"]`` / ``None`` (the grid) into languages.

    Raises:
        ConfigError: the spec names no language (``","``): running on nothing would
            succeed while producing nothing.
        UnknownLanguageError: a code neither the table nor lingua knows.
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
