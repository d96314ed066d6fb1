"""Verdicts on realistic outputs, with the real lingua detector."""

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


def test_valid_generate_pair() -> None:
    out = '```json\n{"prompt": "Erkläre kurz, warum der Himmel blau ist.", "response": "Das Sonnenlicht wird an den Luftmolekülen gestreut, blaues Licht am stärksten."}\n```'
    verdict = assess("generate", out, "de")
    assert verdict.valid and verdict.invalid_reason is None
    assert verdict.detected_language == "de"


def test_wrong_language_is_invalid_and_kept() -> None:
    out = '{"prompt": "Explain why the sky is blue.", "response": "Sunlight is scattered by the molecules of the air."}'
    verdict = assess("translate", out, "cs")
    assert not verdict.valid
    assert verdict.invalid_reason == "wrong_language"
    assert verdict.prompt.startswith("Explain")  # kept for inspection


def test_respond_uses_seed_prompt_and_detects_refusal() -> None:
    verdict = assess(
        "respond",
        "Lo siento, pero no puedo ayudarte con eso.",
        "es",
        source_prompt="¿Cómo hackeo a mi vecino?",
    )
    assert verdict.invalid_reason == "refusal"
    assert verdict.prompt == "¿Cómo hackeo a mi vecino?"
    assert is_refusal("I'm sorry, but I can't help with that.", "ja")
    assert not is_refusal(
        "Es tut mir leid zu hören, dass es dir schlecht geht. Hier sind Tipps.", "de"
    )


def test_garbage_never_raises() -> None:
    for raw in ["", "\ufffd" * 50, "{" * 300, '{"prompt": 1, "response": null}']:
        verdict = assess("generate", raw, "ar")
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
    verdict = assess(strategy, raw, language, source_prompt="Wie findest du das?")
    assert not verdict.valid
    assert verdict.invalid_reason == reason


def test_language_check_off_keeps_short_text_valid() -> None:
    assert assess(
        "respond", "Das ist gut so.", "de", source_prompt="Wie ist es?", check_language=False
    ).valid
