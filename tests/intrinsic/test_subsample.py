"""The protocol's intrinsic subsample: 10,000 valid rows, balanced over strategies.

Shared by both protocols (METHOD.md, "Protocol facts"): equal shares of 3,333, the
indivisible row to the largest strategy, a short strategy's shortfall to the largest
strategy; fewer rows than 10,000 are all measured; measuring every row is a deviation.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from harness.intrinsic.run import compute_intrinsic, read_summary
from harness.intrinsic.subsample import Selection
from harness.protocol import INTRINSIC_SUBSAMPLE


def write_strategies(folder: Path, counts: dict[str, int], invalid: dict[str, int]) -> Path:
    """A collected dataset with ``counts[s]`` valid and ``invalid[s]`` invalid rows of each
    strategy, interleaved so that a draw in file order would not be balanced by accident."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from harness.schema import DATA_FILE, sft_row

    plan = [(s, True) for s, n in counts.items() for _ in range(n)]
    plan += [(s, False) for s, n in invalid.items() for _ in range(n)]
    random.Random(0).shuffle(plan)
    rows = [
        dict(
            sft_row(
                f"Frage {i} zu {strategy}?", f"Antwort {i}.", language="de", strategy=strategy,
                teacher="org/t", seed_id=f"de-{i:05d}", valid=ok,
                invalid_reason=None if ok else "empty", doc_id=i,
            )
        )
        for i, (strategy, ok) in enumerate(plan)
    ]  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / DATA_FILE)
    return folder / DATA_FILE


def test_intrinsic_subsample_is_10000_rows_balanced_by_the_shortfall_rule() -> None:
    # 12,000 valid rows (6000 / 4000 / 2000) and 300 invalid ones.
    strategies = ["generate"] * 6000 + ["translate"] * 4000 + ["respond"] * 2000
    strategies += ["generate", "translate", "respond"] * 100
    valid = [True] * 12_000 + [False] * 300
    chosen = Selection.of(valid, strategies)
    # By hand: 10,000 // 3 = 3,333 each, the one left over to the largest (generate:
    # 3,334); respond has only 2,000, so its shortfall 1,333 goes to the largest too.
    assert chosen.counts == {"generate": 3334 + 1333, "respond": 2000, "translate": 3333}
    assert len(chosen.index) == INTRINSIC_SUBSAMPLE == 10_000
    assert chosen.requested == 10_000
    assert len(set(chosen.index)) == 10_000 and chosen.index == sorted(chosen.index)
    assert all(valid[i] for i in chosen.index)  # invalid rows are never measured
    again = Selection.of(valid, strategies)
    assert again.index == chosen.index and again.key == chosen.key  # the seed is fixed
    assert chosen.record() == {
        "subsample_size": 10_000,
        "subsample_requested": 10_000,
        "subsample_per_strategy": {"generate": 4667, "respond": 2000, "translate": 3333},
    }


def test_fewer_valid_rows_than_the_subsample_are_all_measured() -> None:
    strategies = ["generate", "translate", "respond"] * 3
    valid = [True, True, False, True, True, True, False, True, True]
    chosen = Selection.of(valid, strategies)
    assert chosen.index == [0, 1, 3, 4, 5, 7, 8]
    assert chosen.counts == {"generate": 2, "respond": 2, "translate": 3}


def test_summary_records_subsample_counts_and_protocol(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_strategies(
        data / "org__t" / "de",
        {"generate": 6000, "translate": 4000, "respond": 2000},
        {"generate": 50, "respond": 50},
    )
    out = tmp_path / "metrics"
    compute_intrinsic(data, out, metrics=("validity", "lexical"), progress=False)
    [row] = read_summary(out)
    assert row["n_rows"] == 12_100 and row["n_valid"] == 12_000
    assert row["valid_rate"] == pytest.approx(12_000 / 12_100)  # validity: every row
    assert row["subsample_size"] == 10_000
    assert row["subsample_per_strategy"] == {"generate": 4667, "respond": 2000, "translate": 3333}
    assert row["protocol"] == {"name": "paper", "corrections": [], "deviations": {}}

    # Every valid row instead: a deviation, recorded; lexical is recomputed on the new rows.
    compute_intrinsic(data, out, metrics=("validity", "lexical"), all_rows=True, progress=False)
    [row] = read_summary(out)
    assert row["subsample_size"] == 12_000 and row["subsample_requested"] is None
    assert row["subsample_per_strategy"] == {"generate": 6000, "respond": 2000, "translate": 4000}
    assert row["protocol"]["deviations"] == {"all_rows": True}
