"""Balanced subsampling: equal shares, shortfalls redistributed, valid rows only."""

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


def test_allocate_redistributes_iteratively():
    # share 3500; translate has 1000 -> 9500 left for two: 4750 each; respond has
    # 4000 -> generate gets 5500.
    got = allocate({"generate": 9000, "translate": 1000, "respond": 4000}, 10500)
    assert got == {"generate": 5500, "respond": 4000, "translate": 1000}


def test_allocate_remainder_to_largest():
    assert allocate({"a": 10, "b": 20, "c": 30}, 11) == {"a": 3, "b": 4, "c": 4}
    assert allocate({"a": 10, "b": 20, "c": 30}, 100) == {"a": 10, "b": 20, "c": 30}


def test_list_of_dicts_balanced_valid_only():
    rows = make_rows({"generate": 40, "translate": 6, "respond": 20}, invalid_every=5)
    # valid rows: generate 32, translate 4, respond 16; total 30 -> 10 each, translate
    # short by 6 -> 26 for two -> 13 each.
    out = balanced_subsample(rows, total=30)
    assert len(out) == 30
    assert all(r["valid"] for r in out)
    counts = {s: sum(r["strategy"] == s for r in out) for s in ("generate", "translate", "respond")}
    assert counts == {"generate": 13, "translate": 4, "respond": 13}
    # original relative order kept
    positions = [rows.index(r) for r in out]
    assert positions == sorted(positions)


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
