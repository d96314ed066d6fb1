"""Language packs: language records a user adds without editing the installed package.

A pack is a folder of ``<code>.yaml`` records (the bundled records' schema,
:mod:`harness.languages.record`), each beside its seed file ``<code>.jsonl`` (or the
file its ``seeds`` field names), or a single such record. Three ways to add one, all
read lazily, on the first lookup that needs them:

- the environment variable ``POLYGLOT_HARNESS_LANGUAGE_PACKS``: folders or record files
  separated by ``os.pathsep`` (what a subprocess such as plain ``lm_eval`` inherits);
- :func:`register_pack` in the running process;
- an entry point in the group ``polyglot_harness.languages`` of an installed
  distribution, whose object is a folder path, or a callable returning one (or several).

Every record is validated when its pack loads, including that the benchmarks it lists
find the facts they need, so a broken pack fails on first use with one line naming the
file and the field. A pack may not redefine a bundled language or another pack's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.languages.record import Language, load_record

PACKS_ENV = "POLYGLOT_HARNESS_LANGUAGE_PACKS"
ENTRY_POINT_GROUP = "polyglot_harness.languages"

_registered: list[Path] = []


def read_pack(path: str | Path) -> list[Language]:
    """The validated records of one pack (a folder of records, or one record file).

    Raises:
        ConfigError: the path does not exist or holds no record, or a record is invalid.
    """
    from harness.evaluate.benchmarks import check_language

    where = Path(path).expanduser()
    if where.is_dir():
        files = sorted(where.glob("*.yaml"))
        if not files:
            raise ConfigError(f"language pack {where} holds no <code>.yaml record")
    elif where.is_file():
        files = [where]
    else:
        raise ConfigError(f"language pack {where} does not exist")
    records = [load_record(f) for f in files]
    for record in records:
        check_language(record)
    return records


def _entry_point_paths() -> Iterator[tuple[str, Path]]:
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        origin = f"entry point {ep.name!r} ({ep.value}) in group {ENTRY_POINT_GROUP}"
        try:
            found: Any = ep.load()
        except Exception as exc:  # a broken plugin: one line naming it, not a traceback
            raise ConfigError(f"{origin} cannot be loaded: {exc}") from exc
        if callable(found):
            found = found()
        for item in found if isinstance(found, (list, tuple)) else [found]:
            if not isinstance(item, (str, os.PathLike)):
                raise ConfigError(f"{origin} gives {item!r}, not a folder or record path")
            yield origin, Path(item)


@cache
def _entry_point_records() -> tuple[tuple[str, Language], ...]:
    return tuple((origin, rec) for origin, path in _entry_point_paths() for rec in read_pack(path))


@cache
def _path_records(paths: tuple[str, ...]) -> tuple[tuple[str, Language], ...]:
    return tuple((path, rec) for path in paths for rec in read_pack(path))


def _sources() -> list[tuple[str, Language]]:
    env = tuple(p for p in os.environ.get(PACKS_ENV, "").split(os.pathsep) if p.strip())
    try:
        from_env = list(_path_records(env))
    except ConfigError as exc:
        raise ConfigError(f"${PACKS_ENV}: {exc}") from exc
    registered = list(_path_records(tuple(str(p) for p in _registered)))
    return [*from_env, *registered, *_entry_point_records()]


def pack_languages(bundled: frozenset[str] = frozenset()) -> dict[str, Language]:
    """Every pack language by code: environment, then registered, then entry points.

    Raises:
        ConfigError: a pack is invalid, redefines a code in ``bundled``, or two packs
            define the same code.
    """
    found: dict[str, Language] = {}
    for origin, record in _sources():
        code = record.code
        if code in bundled:
            raise ConfigError(
                f"{record.record} (from {origin}): language {code!r} is bundled with the "
                "harness; a pack adds languages, it cannot redefine one"
            )
        first = found.get(code)
        if first is not None and first.record != record.record:
            raise ConfigError(
                f"language {code!r} is defined by two packs: {first.record} and {record.record}"
            )
        found[code] = record
    return found


def register_pack(path: str | Path, *, bundled: frozenset[str] = frozenset()) -> list[Language]:
    """Add a pack for the rest of this process, validating it now.

    Raises:
        ConfigError: as :func:`pack_languages`.
    """
    resolved = Path(path).expanduser().resolve()
    records = read_pack(resolved)
    if resolved not in _registered:
        _registered.append(resolved)
        try:
            pack_languages(bundled)  # a clash with a bundled or another pack's code
        except ConfigError:
            _registered.remove(resolved)
            raise
    return records


def unregister_pack(path: str | Path) -> None:
    """Forget a pack :func:`register_pack` added (a no-op for one never added)."""
    resolved = Path(path).expanduser().resolve()
    if resolved in _registered:
        _registered.remove(resolved)
