"""The protocol string: parsing, canonical names, and the refusal to mix protocols."""

from __future__ import annotations

import pytest

from harness.errors import ConfigError
from harness.protocol import CORRECTIONS, check_same, name_of, resolve

ALL = sorted(CORRECTIONS)


def test_paper_is_the_default_and_corrects_nothing():
    for value in (None, "", "paper", " paper "):
        p = resolve(value)
        assert p.name == "paper" and p.is_paper
        assert not any(p.corrects(c) for c in ALL)


def test_corrected_applies_every_correction():
    p = resolve("corrected")
    assert all(p.corrects(c) for c in ALL) and not p.is_paper


def test_named_corrections_have_one_canonical_spelling():
    a = resolve("paper+greedy_mgsm+per_row_fluency")
    b = resolve("paper+per_row_fluency+greedy_mgsm")
    assert a.name == b.name == "paper+greedy_mgsm+per_row_fluency"
    assert a.corrects("greedy_mgsm") and not a.corrects("assistant_only_loss")
    # every correction named one by one is the corrected protocol
    assert resolve("paper+" + "+".join(reversed(ALL))).name == "corrected"


def test_corrected_minus_one_keeps_the_others():
    p = resolve("corrected-greedy_mgsm")
    assert not p.corrects("greedy_mgsm")
    assert all(p.corrects(c) for c in ALL if c != "greedy_mgsm")
    assert p.name == "paper+" + "+".join(c for c in ALL if c != "greedy_mgsm")


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("papr", "unknown protocol 'papr'"),
        ("paper+greedy", "did you mean greedy_mgsm"),
        ("corrected-nonsense", "unknown correction 'nonsense'"),
    ],
)
def test_bad_protocols_are_one_line_errors_naming_the_part(value, fragment):
    with pytest.raises(ConfigError) as info:
        resolve(value)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_records_keep_deviations_and_read_back_to_the_same_name():
    p = resolve("paper+greedy_mgsm")
    record = p.record({"documents_per_strategy": 2})
    assert record == {
        "name": "paper+greedy_mgsm",
        "corrections": ["greedy_mgsm"],
        "deviations": {"documents_per_strategy": 2},
    }
    assert name_of(record) == name_of("paper+greedy_mgsm") == p.name
    assert name_of(None) is None and name_of({"other": 1}) is None


def test_mixing_protocols_is_refused_naming_both_sources():
    assert check_same({"a": "paper", "b": {"name": "paper"}}) == "paper"
    with pytest.raises(ConfigError) as info:
        check_same({"metrics/x": "paper", "evals/y": {"name": "corrected"}})
    message = str(info.value)
    assert "metrics/x" in message and "evals/y" in message and "'corrected'" in message
    with pytest.raises(ConfigError, match="unrecorded"):
        check_same({"old": None, "new": "paper"})
    assert check_same({"old": None, "older": None}) is None
