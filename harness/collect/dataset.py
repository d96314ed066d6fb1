"""The collected dataset on disk: merging into it, writing it, reading it back.

One parquet file per (teacher, language), whose key-value metadata carries what a
per-row column would repeat (capped document counts, the protocol). Merging refuses an
existing file it cannot honestly extend (unreadable, other columns, another protocol),
and writing is atomic, so finished data is never replaced by less or by half a file.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.files import data_file
from harness.schema import SFT_COLUMNS, SFTRow

logger = logging.getLogger(__name__)

# Parquet key-value metadata of a collected file: facts about the whole dataset that a
# per-row column would repeat thousands of times (capped document counts, the protocol).
METADATA_KEY = b"polyglot_collect"


def row_key(row: dict[str, Any]) -> tuple[str, str]:
    """What rows are merged on: a later row of the same (strategy, seed_id) replaces it."""
    return (row["strategy"], row["seed_id"])


def _metadata(path: Path) -> dict[str, Any]:
    """The collect metadata of a parquet file: caps and protocol ({} when none)."""
    import pyarrow.parquet as pq

    meta = (pq.read_schema(path).metadata or {}).get(METADATA_KEY)
    return json.loads(meta) if meta else {}


def _read_existing(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows and collect metadata of a dataset already at ``path``, to merge into."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise ConfigError(
            f"{path}: existing dataset is unreadable ({exc}); pass --overwrite to replace it"
        ) from exc
    if tuple(table.column_names) != SFT_COLUMNS:
        raise ConfigError(
            f"{path}: existing dataset has other columns than a collected dataset, so it "
            "cannot be merged with; pass --overwrite to replace it or choose another --out"
        )
    meta = (table.schema.metadata or {}).get(METADATA_KEY)
    return table.to_pylist(), json.loads(meta) if meta else {}


def merge_with_existing(
    path: Path, rows: dict[tuple[str, str], SFTRow], caps: list[dict[str, Any]], protocol: dict
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Existing rows of ``path`` with ``rows`` laid over them (same key: new wins).

    Both must be of one protocol: kept rows were judged under the old one, so a merge
    across protocols would leave a dataset whose ``valid`` means two things.
    """
    old_rows, old_meta = _read_existing(path)
    old_name = (old_meta.get("protocol") or {}).get("name")
    if old_name != protocol["name"]:
        raise ConfigError(
            f"{path}: existing dataset was collected under protocol "
            f"{old_name or 'unrecorded'!r}, this collect is {protocol['name']!r}; pass "
            f"--overwrite to replace it, or --protocol {old_name or '<its protocol>'} to merge"
        )
    old_caps = old_meta.get("caps", [])
    merged: dict[tuple[str, str], dict[str, Any]] = {row_key(r): r for r in old_rows}
    replaced = sum(key in merged for key in rows)
    kept = len(merged) - replaced
    merged.update((key, dict(row)) for key, row in rows.items())
    if kept:
        logger.warning(
            "%s: kept %d existing row(s) the collected runs do not hold (%d replaced, %d "
            "new); pass --overwrite to replace the dataset instead",
            path, kept, replaced, len(rows) - replaced,
        )  # fmt: skip
    all_caps = old_caps + [c for c in caps if c not in old_caps]
    return list(merged.values()), all_caps


def write_dataset(
    path: Path, rows: list[dict[str, Any]], caps: list[dict[str, Any]], protocol: dict
) -> None:
    """Write atomically (never a half-written data file), with caps and protocol as metadata."""
    import pyarrow.parquet as pq
    from datasets import Dataset

    from harness.schema import sft_features

    ordered = sorted(rows, key=lambda r: (r["strategy"], r["doc_id"], r["seed_id"], r["run_id"]))
    table = Dataset.from_list(ordered, features=sft_features()).data.table
    meta = dict(table.schema.metadata or {})
    meta[METADATA_KEY] = json.dumps({"caps": caps, "protocol": protocol}, sort_keys=True).encode()
    table = table.replace_schema_metadata(meta)
    from harness.files import atomic_write

    atomic_write(path, lambda tmp: pq.write_table(table, tmp))


def collected_protocol(path: str | Path) -> dict[str, Any] | None:
    """The protocol record a collected dataset was judged under (None: collected before
    protocols were recorded), for later stages to check and cards to state."""
    return _metadata(data_file(path)).get("protocol")


def collected_notes(path: str | Path) -> list[str]:
    """Sentences about a collected dataset that its card must state (capped strategies).

    The protocol is not among them: the card states it from :func:`collected_protocol`.
    """
    return [
        f"{c['language']} {c['strategy']}: {c['requested']} documents were requested, but "
        f"the seed pool ({c['seeds']}) held only {c['available']} prompts, so this strategy "
        f"has at most {c['available']} rows"
        for c in _metadata(data_file(path)).get("caps", [])
    ]


def load_collected(path: str | Path) -> Any:
    """Load one collected dataset (a ``data.parquet`` or its folder) as a ``Dataset``.

    Read in memory through pyarrow: no cache files next to the data, no progress bar.
    """
    import pyarrow.parquet as pq
    from datasets import Dataset

    return Dataset(pq.read_table(data_file(path)))
