"""The harness's one I/O module: atomic writes, JSONL logs and readers, dataset lookup.

Every output a later stage, a rerun or a person reads goes through here: written to a
temporary file in the same folder and renamed over the target (atomic on POSIX), so a
reader sees the old file or the new one, never a torn one. Every JSONL file a stage
reads goes through :func:`read_jsonl`, so a bad line fails the same way everywhere: one
line naming ``file:line``, never a traceback and never a silently dropped record.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from harness.errors import ConfigError, InputNotFoundError
from harness.naming import DATA_FILE

logger = logging.getLogger(__name__)

Torn = Literal["none", "last", "any"]


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
    ``write`` may make a folder instead of a file (a converted model): an existing
    folder at ``path`` is then removed just before the rename, so a kill leaves the old
    folder, no folder, or the new one, never a half-written one that a later run trusts.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        if tmp.is_dir() and path.is_dir():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
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
    """The complete records of an append-only JSONL log (none when there is no log yet).

    A line a killed writer cut short is skipped wherever it stands: with several
    processes appending, other writers' lines may follow it.
    """
    path = Path(path)
    if not path.is_file():
        return []
    return [record for _, record in read_jsonl(path, torn="any")]


def read_jsonl(
    path: str | Path,
    *,
    torn: Torn = "none",
    skipped: list[str] | None = None,
    parse: Callable[[str], Any] = json.loads,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (``file:line``, object) for each non-blank line of a JSONL file.

    Lines are split on ``\\n`` only, never on the Unicode line separators that
    ``json.dumps(ensure_ascii=False)`` leaves inside strings (``str.splitlines`` would
    cut such a record in two).

    Args:
        path: the JSONL file.
        torn: which unreadable lines are a killed writer's leftovers rather than
            damage: ``"none"`` for files written whole (atomically or by a person),
            ``"last"`` for a file one writer appends to (lm-eval's samples: only the
            last line can be cut short), ``"any"`` for a log several processes append to
            (a cut line may be followed by other writers' lines). A skipped line is
            logged as a warning.
        skipped: when given, the ``file:line`` of each skipped line is appended to it.
        parse: the line parser; a faster partial parser may stand in for
            :func:`json.loads` (it raises ``ValueError`` on a bad line).

    Raises:
        InputNotFoundError: ``path`` is not a file.
        ConfigError: a line is not UTF-8, not JSON or not a JSON object, and is not
            a torn line by ``torn`` (named by file and line).
    """
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"{path} does not exist or is not a file")
    pending: ConfigError | None = None  # an unreadable line: torn if no line follows it
    pending_where = ""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            if pending is not None:
                raise pending
            where = f"{path}:{number}"
            try:
                obj = _parse_line(raw, where, parse)
            except ConfigError as exc:
                if torn == "none":
                    raise
                if torn == "any":
                    _skip(where, "unreadable line (interrupted write?)", skipped)
                else:
                    pending, pending_where = exc, where
                continue
            if isinstance(obj, dict):
                yield where, obj
            elif torn == "any":  # not cut short, but no record either: skipped, as before
                _skip(where, "not a JSON object", skipped)
            else:  # a cut line starts with "{" and so never parses as another JSON value
                raise ConfigError(f"{where}: expected a JSON object per line; {_FIX}")
    if pending is not None:
        _skip(pending_where, "incomplete last line (interrupted write?)", skipped)


_FIX = "regenerate the file or remove the line"


def _parse_line(raw: bytes, where: str, parse: Callable[[str], Any]) -> Any:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{where}: not valid UTF-8 ({exc.reason} at byte {exc.start}); {_FIX}"
        ) from exc
    try:
        return parse(line)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}: not valid JSON ({exc.msg}); {_FIX}") from exc
    except (ValueError, RecursionError) as exc:  # a 5,000-digit number; deep nesting
        raise ConfigError(f"{where}: not readable JSON ({str(exc)[:80]}); {_FIX}") from exc


def _skip(where: str, what: str, skipped: list[str] | None) -> None:
    logger.warning("%s: %s, skipped", where, what)
    if skipped is not None:
        skipped.append(where)


def data_file(path: str | Path) -> Path:
    """The parquet file of a collected dataset, given the file or its folder.

    Every stage that takes a collected dataset (intrinsic judge, train, collect's own
    readers) accepts both, as the ``<teacher>/<lang>`` folder is what a user sees.

    Raises:
        InputNotFoundError: neither the file nor a folder holding one exists.
    """
    path = Path(path).expanduser()
    file = path / DATA_FILE if path.is_dir() else path
    if not file.is_file():
        raise InputNotFoundError(
            f"no collected dataset at {file}: pass a {DATA_FILE} file or the "
            "<teacher>/<lang> folder holding one (run `polyglot-harness collect` first)"
        )
    return file


@functools.lru_cache(maxsize=1)
def unique_key_loader() -> type:
    """A ``SafeLoader`` that refuses duplicate mapping keys.

    Why: YAML keeps the last of two equal keys without a word, so a second
    ``gemma-3-4b:`` entry (or a second ``id:`` inside one) would silently replace the
    first and a grid would benchmark a model nobody meant to.
    """
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<:` merges may be overridden locally, as YAML intends
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # unhashable key: SafeLoader reports it itself
                    continue
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"duplicate key {key!r} (first at line {first.line + 1}); YAML would "
                        "silently keep only the last: rename or remove one",
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader
