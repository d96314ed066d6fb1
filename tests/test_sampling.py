"""Training subsample: equal shares, each shortfall to the largest strategy, valid rows only."""

from __future__ import annotations

import pytest
from datasets import Dataset

from harness.errors import ConfigError, EmptyDataError
from harness.sampling import allocate, balanced_subsample


def make_rows(counts: dict[str, int], invalid_every: int = 0) -> list[dict]:
    rows = []
    for strategy, n in counts.items():
        for k in range(n):
            rows.append(
                {
                    "prompt": f"{strategy} prompt {k}",
                    "response": f"Antwort {k}",
                    "strategy": strategy,
                    "valid": not (invalid_every and k % invalid_every == 0),
                }
            )
    return rows


def test_allocate_equal_when_all_have_enough():
    assert allocate({"generate": 5000, "translate": 5000, "respond": 5000}, 10500) == {
        "generate": 3500,
        "respond": 3500,
        "translate": 3500,
    }


def test_paper_shortfall_goes_to_the_largest_strategy():
    # share 3500; generate has 1000 -> its 2500 missing rows go to respond (8000 rows,
    # the largest): 3500 + 2500 = 6000; translate keeps its 3500.
    got = allocate({"generate": 1000, "translate": 5000, "respond": 8000}, 10500)
    assert got == {"generate": 1000, "respond": 6000, "translate": 3500}


def test_paper_shortfall_is_not_water_filled():
    # share 3500; translate has 1000 -> 2500 to generate (9000, the largest): 6000.
    # Water-filling would have given generate 5500 and respond 4000.
    got = allocate({"generate": 9000, "translate": 1000, "respond": 4000}, 10500)
    assert got == {"generate": 6000, "respond": 3500, "translate": 1000}


def test_shortfall_the_largest_cannot_absorb_goes_to_the_next_largest():
    # share 3500: a 100, b 3500, c 3500; 3400 missing: b (5000) takes 1500 -> 5000,
    # the remaining 1900: c (4000) takes 500 -> 4000; 1400 cannot be placed.
    got = allocate({"a": 100, "b": 5000, "c": 4000}, 10500)
    assert got == {"a": 100, "b": 5000, "c": 4000}
    # share 10: a 2, b 10, c 10; 8 missing, all to c (the largest): 18.
    assert allocate({"a": 2, "b": 15, "c": 40}, 30) == {"a": 2, "b": 10, "c": 18}


def test_paper_training_subsample_size_is_10500():
    from harness.sampling import DEFAULT_SEED, DEFAULT_TOTAL

    assert (DEFAULT_TOTAL, DEFAULT_SEED) == (10_500, 3407)


def test_allocate_remainder_to_largest():
    assert allocate({"a": 10, "b": 20, "c": 30}, 11) == {"a": 3, "b": 4, "c": 4}
    assert allocate({"a": 10, "b": 20, "c": 30}, 100) == {"a": 10, "b": 20, "c": 30}


def test_list_of_dicts_balanced_valid_only():
    rows = make_rows({"generate": 40, "translate": 6, "respond": 20}, invalid_every=5)
    # valid rows: generate 32, translate 4, respond 16; total 30 -> 10 each, translate
    # short by 6 -> all 6 to generate (the largest): 16; respond keeps 10.
    out = balanced_subsample(rows, total=30)
    assert len(out) == 30
    assert all(r["valid"] for r in out)
    counts = {s: sum(r["strategy"] == s for r in out) for s in ("generate", "translate", "respond")}
    assert counts == {"generate": 16, "translate": 4, "respond": 10}
    # original relative order kept
    positions = [rows.index(r) for r in out]
    assert positions == sorted(positions)


def test_strategy_with_only_invalid_rows_gives_its_share_to_the_largest():
    rows = make_rows({"generate": 20, "translate": 30, "respond": 10})
    for row in rows:
        if row["strategy"] == "respond":
            row["valid"] = False
    # total 15 -> 5 each; respond has 0 valid rows -> its 5 go to translate (30): 10.
    # Balancing over the two strategies with valid rows only would give 8 / 7.
    out = balanced_subsample(rows, total=15)
    counts = {s: sum(r["strategy"] == s for r in out) for s in ("generate", "translate", "respond")}
    assert counts == {"generate": 5, "translate": 10, "respond": 0}


def test_deterministic_and_seed_dependent():
    rows = make_rows({"generate": 50, "translate": 50, "respond": 50})
    a = balanced_subsample(rows, total=30, seed=3407)
    assert a == balanced_subsample(rows, total=30, seed=3407)
    assert a != balanced_subsample(rows, total=30, seed=1)


def test_dataset_in_dataset_out():
    rows = make_rows({"generate": 12, "translate": 3, "respond": 9}, invalid_every=4)
    ds = Dataset.from_list(rows)
    out = balanced_subsample(ds, total=12)
    assert isinstance(out, Dataset)
    assert out.to_list() == balanced_subsample(rows, total=12)
    assert sorted(set(out["strategy"])) == ["generate", "respond", "translate"]


def test_valid_only_off_and_missing_valid_column():
    rows = make_rows({"generate": 4, "respond": 4}, invalid_every=2)
    assert len(balanced_subsample(rows, total=8, valid_only=False)) == 8
    assert len(balanced_subsample(rows, total=8)) == 4  # short: all valid rows, warned
    plain = [{k: v for k, v in r.items() if k != "valid"} for r in rows]
    assert len(balanced_subsample(plain, total=8)) == 8


def test_errors():
    rows = make_rows({"generate": 2})
    with pytest.raises(ConfigError, match="no such column"):
        balanced_subsample(rows, by="category")
    with pytest.raises(ConfigError, match="positive"):
        balanced_subsample(rows, total=0)
    with pytest.raises(EmptyDataError):
        balanced_subsample([{**r, "valid": False} for r in rows])
