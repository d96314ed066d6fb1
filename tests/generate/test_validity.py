"""Verdicts on realistic outputs, with the real lingua detector.

Under the paper protocol a pair is valid when it parses and is non-empty; the refusal
and language checks decide only under their corrections (``refusal_filter``,
``langid_validity``), and are recorded as ``correction_reason`` either way.
"""

from __future__ import annotations

import pytest

from harness.generate.langid import detect_language, detect_languages
from harness.generate.validity import assess, is_refusal


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Die Hauptstadt von Frankreich ist Paris, das weiß jeder.", "de"),
        ("Hlavní město Francie je Paříž a leží na Seině.", "cs"),
        ("La capital de Francia es París, a orillas del Sena.", "es"),
        ("Ibu kota Prancis adalah Paris, yang terletak di tepi Sungai Seine.", "id"),
        ("عاصمة فرنسا هي باريس وتقع على نهر السين.", "ar"),
        ("フランスの首都はパリで、セーヌ川のほとりにあります。", "ja"),
    ],
)
def test_detects_grid_languages(text: str, code: str) -> None:
    assert detect_language(text) == code
    assert detect_languages([text, "42"]) == [code, None]


def test_code_and_numbers_do_not_decide_language() -> None:
    text = "Hier ist die Lösung für dein Problem:\n```python\nfor item in items:\n    print(item)\n```\nDas war es schon."
    assert detect_language(text) == "de"
    assert detect_language("x = 1 + 2; 3.14") is None


WRONG_LANGUAGE = (
    '{"prompt": "Explain why the sky is blue.", "response": "Sunlight is scattered by the '
    'molecules of the air."}'
)
REFUSAL = "Lo siento, pero no puedo ayudarte con eso."


def test_valid_generate_pair() -> None:
    out = '```json\n{"prompt": "Erkläre kurz, warum der Himmel blau ist.", "response": "Das Sonnenlicht wird an den Luftmolekülen gestreut, blaues Licht am stärksten."}\n```'
    for protocol in ("paper", "corrected"):
        verdict = assess("generate", out, "de", protocol=protocol)
        assert verdict.valid and verdict.invalid_reason is None
        assert verdict.correction_reason is None
        assert verdict.detected_language == "de"


def test_wrong_language_is_valid_under_paper_and_invalid_under_langid_validity() -> None:
    """Protocol fact: the paper never checks the output's language."""
    paper = assess("translate", WRONG_LANGUAGE, "cs")  # the default protocol is paper
    assert paper.valid and paper.invalid_reason is None
    assert paper.correction_reason == "wrong_language"  # recorded, not applied
    assert paper.detected_language == "en"
    for protocol in ("corrected", "paper+langid_validity"):
        verdict = assess("translate", WRONG_LANGUAGE, "cs", protocol=protocol)
        assert not verdict.valid
        assert verdict.invalid_reason == verdict.correction_reason == "wrong_language"
        assert verdict.prompt.startswith("Explain")  # kept for inspection
    assert assess("translate", WRONG_LANGUAGE, "cs", protocol="paper+refusal_filter").valid


def test_refusal_is_valid_under_paper_and_invalid_under_refusal_filter() -> None:
    """Protocol fact: the paper keeps refusals as training data."""
    seed = "¿Cómo hackeo a mi vecino?"
    paper = assess("respond", REFUSAL, "es", source_prompt=seed)
    assert paper.valid and paper.correction_reason == "refusal"
    assert assess(
        "respond", REFUSAL, "es", source_prompt=seed, protocol="paper+langid_validity"
    ).valid
    for protocol in ("corrected", "paper+refusal_filter"):
        verdict = assess("respond", REFUSAL, "es", source_prompt=seed, protocol=protocol)
        assert not verdict.valid and verdict.invalid_reason == "refusal"


def test_unparseable_or_empty_is_invalid_under_every_protocol() -> None:
    for protocol in ("paper", "corrected"):
        for raw, reason in [("", "empty"), ("no json here", "unparseable"),
                            ('{"prompt": "", "response": "Hola."}', "empty")]:  # fmt: skip
            verdict = assess("generate", raw, "es", protocol=protocol)
            assert not verdict.valid and verdict.invalid_reason == reason
            assert verdict.correction_reason is None  # nothing for a correction to add
        assert not assess("respond", "Hola.", "es", source_prompt="", protocol=protocol).valid


def test_respond_uses_seed_prompt_and_detects_refusal() -> None:
    verdict = assess(
        "respond",
        "Lo siento, pero no puedo ayudarte con eso.",
        "es",
        source_prompt="¿Cómo hackeo a mi vecino?",
        protocol="corrected",
    )
    assert verdict.invalid_reason == "refusal"
    assert verdict.prompt == "¿Cómo hackeo a mi vecino?"
    assert is_refusal("I'm sorry, but I can't help with that.", "ja")
    assert not is_refusal(
        "Es tut mir leid zu hören, dass es dir schlecht geht. Hier sind Tipps.", "de"
    )


def test_garbage_never_raises() -> None:
    for raw in ["", "\ufffd" * 50, "{" * 300, '{"prompt": 1, "response": null}']:
        verdict = assess("generate", raw, "ar", protocol="corrected")
        assert not verdict.valid and verdict.invalid_reason


@pytest.mark.parametrize(
    ("strategy", "raw", "language", "reason"),
    [
        ("respond", "Das ist gut so.", "ja", "undetermined_language"),  # the case
        ("respond", "Das ist gut so.", "de", "undetermined_language"),
        ("respond", "はい、そうです。", "ja", "undetermined_language"),
        # A pair's prompt is teacher-written too: too short to place it is not valid.
        ("generate", '{"prompt": "Was ist 2+2?", "response": "Zwei plus zwei ergibt vier, '
         'das ist eine einfache Rechnung."}', "de", "undetermined_language"),
        # Placed in another language beats undetermined: the stronger finding.
        ("translate", '{"prompt": "Ok?", "response": "Sunlight is scattered by the molecules '
         'of the air."}', "de", "wrong_language"),
    ],
)  # fmt: skip
def test_text_too_short_for_language_id_is_undetermined_not_valid(
    strategy: str, raw: str, language: str, reason: str
) -> None:
    verdict = assess(
        strategy, raw, language, source_prompt="Wie findest du das?", protocol="corrected"
    )
    assert not verdict.valid
    assert verdict.invalid_reason == reason
    paper = assess(strategy, raw, language, source_prompt="Wie findest du das?")
    assert paper.valid and paper.correction_reason == reason


def test_language_check_off_keeps_short_text_valid() -> None:
    assert assess(
        "respond", "Das ist gut so.", "de", source_prompt="Wie ist es?", check_language=False,
        protocol="corrected",
    ).valid  # fmt: skip


def test_unknown_protocol_is_a_config_error() -> None:
    from harness.errors import ConfigError

    with pytest.raises(ConfigError, match="refusal_filter"):
        assess("respond", "Hola.", "es", source_prompt="¿Qué tal?", protocol="paper+refusal_filtr")
