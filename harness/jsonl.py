"""Reading the JSONL files stages hand each other, with errors that name file and line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.errors import ConfigError


def read_jsonl(path: str | Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (``file:line``, object) for each non-empty line.

    Raises:
        ConfigError: a line is not UTF-8, not JSON or not a JSON object (named by file
            and line).
    """
    path = Path(path)
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            where = f"{path}:{number}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ConfigError(f"{where}: not valid UTF-8 ({exc.reason})") from exc
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{where}: not valid JSON ({exc.msg})") from exc
            except (ValueError, RecursionError) as exc:  # a 5,000-digit number; deep nesting
                raise ConfigError(f"{where}: not readable JSON ({str(exc)[:80]})") from exc
            if not isinstance(obj, dict):
                raise ConfigError(f"{where}: expected a JSON object per line")
            yield where, obj
