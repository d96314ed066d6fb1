"""Writing files so that a kill never leaves half of one, and appending records safely.

Every output a later stage, a rerun or a person reads goes through here: written to a
temporary file in the same folder and renamed over the target (atomic on POSIX), so a
reader sees the old file or the new one, never a torn one.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.errors import ConfigError


def check_out_folder(path: str | Path) -> Path:
    """Refuse an output folder that cannot be one, before any work is done.

    Why before: scoring or analysing can take a while, and failing at the first write
    (``FileExistsError`` from ``mkdir``) would throw that work away with a traceback; a
    file already at that name is the user's and is left untouched.

    Raises:
        ConfigError: ``path``, or the nearest existing folder above it, is a file.
    """
    path = Path(path)
    for candidate in (path, *path.parents):
        if candidate.exists():
            if not candidate.is_dir():
                raise ConfigError(
                    f"output folder {path} cannot be created: {candidate} is an existing "
                    "file; name a folder, or move the file away"
                )
            break
    return path


def check_out_file(path: str | Path) -> Path:
    """Refuse an output file name that is a folder (or lies under a file), before any work.

    Raises:
        ConfigError: ``path`` is an existing folder, or something above it is a file.
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"output file {path} is an existing folder; name a file")
    check_out_folder(path.parent)
    return path


def atomic_write(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp_path)``, then rename the temp file onto ``path``.

    The temp name is unique per call, so two processes writing the same file (two
    retries of one job) never write into each other's temp file; the last rename wins.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) atomically."""
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def append_jsonl(path: str | Path, record: dict[str, Any]) -> None:
    """Append one JSON line with a single ``write`` on an ``O_APPEND`` descriptor.

    Lines from concurrent writers (grid jobs ending at once) then never interleave on a
    local file system, and a kill leaves at most one unterminated last line, which
    :func:`read_records` skips.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """The complete records of an append-only JSONL log; a torn last line is ignored."""
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for line in path.read_bytes().decode("utf-8", errors="replace").splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue  # a line cut by a kill mid-write
        if isinstance(obj, dict):
            records.append(obj)
    return records
