"""Teacher outputs as they come: fenced, chatty, single-quoted, cut off, or garbage."""

from __future__ import annotations

import pytest

from harness.generate.parse import extract_pair
from harness.schema import InvalidReason

GOOD = [
    ('{"prompt": "Wie spät ist es?", "response": "Es ist drei."}', "Wie spät ist es?", "Es ist drei."),
    ('Sure! Here it is:\n```json\n{"prompt": "P", "response": "R"}\n```\nEnjoy.', "P", "R"),
    ("```\n{'prompt': 'l\\'eau', 'response': 'oui'}\n```", "l'eau", "oui"),
    ("{'prompt': 'Qué hora es', 'response': 'Son las tres.'}", "Qué hora es", "Son las tres."),
    ('{"prompt": "a", "response": "b",}', "a", "b"),
    ('{"prompt": "line1\nline2", "response": "x\ny"}', "line1\nline2", "x\ny"),
    ("{“prompt”: “smart”, “response”: “quotes”}", "smart", "quotes"),
    ('{"Instruction": "Frage", "Answer": "Antwort"}', "Frage", "Antwort"),
    ('Two objects {"prompt": "first"} and {"prompt": "2nd", "response": "ok"}', "2nd", "ok"),
    ('{"prompt": "He said \\"hi\\"", "response": "{nested} braces"}', 'He said "hi"', "{nested} braces"),
    ('{"prompt": "عاصمة مصر؟", "response": "القاهرة."}', "عاصمة مصر؟", "القاهرة."),
    ('{"prompt": "日本の首都は？", "response": "東京です。"}', "日本の首都は？", "東京です。"),
    ('{"prompt": ["step 1", "step 2"], "response": 42}', "step 1\nstep 2", "42"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "prompt", "response"), GOOD)
def test_recovers_pair(text: str, prompt: str, response: str) -> None:
    parsed = extract_pair(text)
    assert parsed.ok, parsed
    assert (parsed.prompt, parsed.response) == (prompt, response)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", InvalidReason.EMPTY),
        ("   \n ", InvalidReason.EMPTY),
        (None, InvalidReason.EMPTY),
        ("I would rather not.", InvalidReason.UNPARSEABLE),
        ("{not json at all}", InvalidReason.UNPARSEABLE),
        ('{"prompt": "only a prompt"}', InvalidReason.MISSING_FIELD),
        ('{"prompt": "", "response": "x"}', InvalidReason.EMPTY),
        (
            '{"prompt": "Wie spät ist es?", "response": "Es ist drei Uhr und',
            InvalidReason.TRUNCATED,
        ),
        ("{" * 5000, InvalidReason.UNPARSEABLE),
        ("\x00\x01{\x02", InvalidReason.UNPARSEABLE),
    ],
)
def test_invalid_outputs_are_classified_not_raised(text: str | None, reason: InvalidReason) -> None:
    assert extract_pair(text).reason is reason


def test_truncated_keeps_partial_text() -> None:
    parsed = extract_pair('```json\n{"prompt": "Kolik je hodin?", "response": "Jsou tři a')
    assert parsed.reason is InvalidReason.TRUNCATED
    assert parsed.prompt == "Kolik je hodin?"
    assert parsed.response.startswith("Jsou tři")


SCHEMA_PAIRS = [
    {"prompt": "Wie spät ist es?", "response": "Es ist drei."},
    {"prompt": 'Er sagte "hallo"\nund ging.', "response": "Zeile 1\n\tZeile 2 \\ Ende"},
    {"prompt": "日本の首都は？", "response": '東京です。{"not": "json"}'},
    {"prompt": "عاصمة مصر؟", "response": "القاهرة."},
]


@pytest.mark.parametrize("pair", SCHEMA_PAIRS)
@pytest.mark.parametrize("style", ["compact", "ascii", "indented"])
def test_schema_guided_output_parses_exactly(pair: dict[str, str], style: str) -> None:
    """What schema-guided decoding may emit (checked against the real xgrammar grammar of
    PAIR_SCHEMA) is parsed back to exactly the pair, escapes and all."""
    import json

    xgr = pytest.importorskip("xgrammar")
    from xgrammar.testing import _is_grammar_accept_string

    from harness.protocol import PAIR_SCHEMA

    text = {
        "compact": json.dumps(pair, ensure_ascii=False, separators=(",", ":")),
        "ascii": json.dumps(pair),
        "indented": json.dumps(pair, ensure_ascii=False, indent=2),
    }[style]
    assert _is_grammar_accept_string(xgr.Grammar.from_json_schema(json.dumps(PAIR_SCHEMA)), text)
    parsed = extract_pair(text)
    assert parsed.ok
    assert (parsed.prompt, parsed.response) == (pair["prompt"].strip(), pair["response"].strip())


def test_degenerate_output_is_classified_in_linear_time() -> None:
    """A teacher stuck in a loop until the serving context (4,096 tokens, ~24k characters)
    writes one long balanced span that is not JSON. Classifying it must stay linear: a
    quadratic repair (json-repair 0.64.4 takes ~7 s on this span) would stall generation."""
    import time

    text = "{" + "Schritt: weiter, " * 1500 + "}"
    start = time.perf_counter()
    assert extract_pair(text).reason is InvalidReason.UNPARSEABLE
    assert time.perf_counter() - start < 3.0
