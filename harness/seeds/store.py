"""Seed files: the folder ``polyglot-harness seeds`` writes and the bundled sample.

Both are ``<lang>.jsonl`` (or ``.parquet``) files of :class:`~harness.schema.SeedRow`
rows. The bundled file of a language is the one its language record names (``seeds``;
for the bundled records, ``harness/seeds_data/<code>.jsonl``), so a language pack brings
its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import ConfigError, EmptyDataError, InputNotFoundError
from harness.languages import get_language
from harness.schema import SeedRow
from harness.seeds.text import dedupe_key, normalize_text

if TYPE_CHECKING:
    import datasets


def save_seeds(dsets: Mapping[str, datasets.Dataset], out_dir: str | Path) -> list[Path]:
    """Write ``<out>/<lang>.jsonl`` in the bundled files' format (what the tasks read)."""
    from harness.files import atomic_write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for code, dset in dsets.items():
        path = out / f"{code}.jsonl"
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in dset)
        atomic_write_text(path, text)  # a reader never sees a half-written file
        written.append(path)
    return written


def _read_rows(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        yield from enumerate(pq.read_table(path).to_pylist(), 1)
        return
    from harness.files import read_jsonl

    for where, row in read_jsonl(path):
        yield int(where.rpartition(":")[2]), row


def seed_file(code: str, seeds: str | Path | None) -> Path:
    """The file the seeds of ``code`` are read from: the bundled one, or ``seeds``'s.

    Public because the generation documents' cache key hashes this very file: a key
    built from any other resolution could serve documents of a file no longer read.

    Raises:
        InputNotFoundError: no such file, named with where it was looked for.
    """
    if seeds is None:
        path = get_language(code).seeds
        if path is None or not path.is_file():
            raise InputNotFoundError(
                f"no bundled seeds for language {code!r}"
                + (f" at {path}" if path else " (it has no language record)")
                + "; build some with `polyglot-harness seeds` and pass that folder, or add "
                "a language pack (a record and its seed file)"
            )
        return path
    base = Path(seeds)
    if base.is_file():
        return base
    for name in (f"{code}.jsonl", f"{code}.parquet"):
        if (base / name).is_file():
            return base / name
    where = "folder" if base.is_dir() else "path, which does not exist"
    raise InputNotFoundError(
        f"no seeds for language {code!r} in {base}: expected {code}.jsonl or "
        f"{code}.parquet in that {where}"
    )


def load_seed_rows(language: str, seeds: str | Path | None = None) -> list[SeedRow]:
    """The seed rows of one language: bundled when ``seeds`` is None, else from a folder.

    ``seeds`` is a ``polyglot-harness seeds`` output folder (``<lang>.jsonl`` or
    ``<lang>.parquet``) or a single such file.

    Raises:
        InputNotFoundError: no seed file for the language.
        EmptyDataError: the file holds no rows.
        ConfigError: a row is not valid JSON, has no prompt, or repeats a seed id
            (named by file, line and id).
    """
    code = get_language(language).code
    path = seed_file(code, seeds)
    rows: list[SeedRow] = []
    first_line: dict[str, int] = {}
    for number, raw in _read_rows(path):
        prompt = normalize_text(raw.get("prompt") if isinstance(raw, dict) else None)
        if not prompt:
            raise ConfigError(f"{path}:{number}: a seed row needs a non-empty 'prompt'")
        given = str(raw.get("seed_id") or "").strip()
        row_id = given or f"seed-{dedupe_key(prompt)[:10]}"
        if row_id in first_line:
            what = f"seed_id {row_id!r}" if given else f"prompt (derived seed_id {row_id!r})"
            raise ConfigError(
                f"{path}:{number}: duplicate {what}, first on line {first_line[row_id]}; "
                "seed ids must be unique, or collected rows of the two seeds merge into one"
            )
        first_line[row_id] = number
        row = SeedRow(
            seed_id=row_id,
            language=str(raw.get("language") or code),
            prompt=prompt,
            response=normalize_text(raw.get("response")),
            source=str(raw.get("source") or ""),
        )
        if raw.get("category"):
            row["category"] = str(raw["category"])  # type: ignore[typeddict-unknown-key]
        rows.append(row)
    if not rows:
        raise EmptyDataError(f"seed file {path} holds no rows for language {code!r}")
    return rows
