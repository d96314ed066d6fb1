"""The one reader of collected datasets: the schema is enforced, never coerced."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from harness.errors import InputNotFoundError, SchemaError
from harness.schema import (
    REQUIRED_COLUMNS,
    SFT_COLUMNS,
    fingerprint_content,
    read_collected,
    sft_row,
)


def _write(path: Path, n: int = 4, **replace) -> Path:
    """``n`` collected rows (every other one invalid), named columns replaced or dropped."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        dict(sft_row(f"Frage {i}?", f"Antwort {i}.", language="de", strategy="generate",
                     teacher="org/t", seed_id=f"de-{i}", valid=i % 2 == 0))
        for i in range(max(n, 1))
    ]  # fmt: skip
    table = pa.Table.from_pylist(rows).slice(0, n)  # from_pylist([]) would drop the columns
    for name, values in replace.items():
        table = table.drop_columns([name])
        if values is not None:
            table = table.append_column(name, values)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def test_a_collected_dataset_reads_as_written(tmp_path: Path) -> None:
    path = _write(tmp_path / "data.parquet")
    table = read_collected(path)
    assert table.column_names == list(SFT_COLUMNS)
    assert read_collected(path, ["valid"]).column("valid").to_pylist() == [True, False] * 2


@pytest.mark.parametrize(
    "values, message",
    [
        ("nan", r"column 'valid' is double, expected bool without nulls"),
        ("null", r"column 'valid' holds 2 null value\(s\) of 4"),
        ("int", r"column 'valid' is int64, expected bool"),
        ("text", r"column 'valid' is string, expected bool"),
    ],
)
def test_valid_must_be_bool_and_non_null(tmp_path: Path, values: str, message: str) -> None:
    """NaN read as bool is True: a NaN column once made every row count as valid."""
    import pyarrow as pa

    column = {
        "nan": pa.array([1.0, math.nan, 1.0, math.nan]),
        "null": pa.array([True, None, True, None], pa.bool_()),
        "int": pa.array([1, 0, 1, 0]),
        "text": pa.array(["true", "false", "true", "false"]),
    }[values]
    path = _write(tmp_path / "data.parquet", valid=column)
    with pytest.raises(SchemaError, match=f"^{path}: {message}"):
        read_collected(path, ["valid"])
    with pytest.raises(SchemaError, match=message):  # read in full, it is checked too
        read_collected(path)


@pytest.mark.parametrize("column", REQUIRED_COLUMNS)
def test_every_required_column_must_exist_whatever_is_read(tmp_path: Path, column: str) -> None:
    path = _write(tmp_path / "data.parquet", **{column: None})
    with pytest.raises(SchemaError, match=f"{path}: column\\(s\\) '{column}' missing"):
        read_collected(path, ["prompt" if column != "prompt" else "response"])


def test_a_stage_can_require_more(tmp_path: Path) -> None:
    path = _write(tmp_path / "data.parquet", messages=None)
    read_collected(path)
    with pytest.raises(SchemaError, match="'messages' missing"):
        read_collected(path, require=("messages",))


def test_invalid_utf8_names_the_column(tmp_path: Path) -> None:
    import pyarrow as pa

    bad = pa.array([b"ok", b"\xc3\x28", b"ok", b"ok"]).view(pa.string())
    path = _write(tmp_path / "data.parquet", seed_id=bad)
    with pytest.raises(SchemaError, match=f"{path}: column 'seed_id' holds invalid UTF-8"):
        read_collected(path, ["seed_id"])
    read_collected(path, ["prompt"])  # other columns stay readable


def test_not_a_parquet_file_and_no_file(tmp_path: Path) -> None:
    junk = tmp_path / "data.parquet"
    junk.write_text("prompt,response\n")
    with pytest.raises(SchemaError, match=f"{junk}: not a readable parquet file"):
        read_collected(junk)
    with pytest.raises(InputNotFoundError, match="does not exist"):
        read_collected(tmp_path / "nowhere.parquet")


def test_an_empty_dataset_is_left_to_the_caller(tmp_path: Path) -> None:
    """No rows: nothing can be mistyped; each stage says "holds no rows" its own way."""
    path = _write(tmp_path / "data.parquet", n=0)
    assert read_collected(path, ["valid"]).num_rows == 0


def test_content_fingerprint_ignores_mtime_not_bytes(tmp_path: Path) -> None:
    path = _write(tmp_path / "data.parquet")
    first = fingerprint_content(path)
    path.write_bytes(path.read_bytes())
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**10))
    assert fingerprint_content(path) == first
    _write(path, n=5)
    assert fingerprint_content(path) != first
