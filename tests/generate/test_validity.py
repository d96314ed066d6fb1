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
