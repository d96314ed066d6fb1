"""The one atomic-write helper and the append-only log, under kills and concurrent writers.

Also checks that the outputs moved onto the helper (model card, sidecar, generation
progress) are replaced by a rename, never rewritten in place: a file rewritten in place
is torn by a kill mid-write, a renamed one is old or new.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.files import (
    append_jsonl,
    atomic_write,
    atomic_write_text,
    check_out_file,
    check_out_folder,
    read_records,
)


class _Killed(Exception):
    """Stands for a kill arriving while a file is half written."""


def test_interrupted_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "scores.jsonl"
    target.write_text("old complete content\n", encoding="utf-8")

    def half_then_die(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write("new but only ha")
            handle.flush()
        raise _Killed

    with pytest.raises(_Killed):
        atomic_write(target, half_then_die)
    assert target.read_text(encoding="utf-8") == "old complete content\n"
    assert [p.name for p in tmp_path.iterdir()] == ["scores.jsonl"]  # no temp file left


def test_interrupt_by_keyboard_interrupt_also_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "out" / "a.json"  # the folder does not exist yet

    def die(tmp: Path) -> None:
        tmp.write_text("{", encoding="utf-8")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, die)
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_atomic_write_text_replaces_the_inode(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("old", encoding="utf-8")
    keep = tmp_path / "keep"
    os.link(target, keep)  # a reader holding the old file keeps reading the old bytes
    atomic_write_text(target, "new")
    assert target.read_text(encoding="utf-8") == "new"
    assert keep.read_text(encoding="utf-8") == "old"


def _append_many(path: str, writer: int, n: int) -> None:
    for i in range(n):
        # Long lines (~8 KB) so that a writer split into several writes would interleave.
        append_jsonl(path, {"writer": writer, "i": i, "pad": f"{writer}" * (8000 + i)})


def test_concurrent_appends_never_interleave(tmp_path: Path) -> None:
    try:
        ctx = multiprocessing.get_context("fork")
    except ValueError:
        pytest.skip("needs the fork start method")
    path = tmp_path / "log.jsonl"
    writers, per_writer = 4, 200
    procs = [
        ctx.Process(target=_append_many, args=(str(path), w, per_writer)) for w in range(writers)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
        assert proc.exitcode == 0
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == writers * per_writer
    seen: dict[int, list[int]] = {w: [] for w in range(writers)}
    for line in lines:
        record = json.loads(line)  # a torn or interleaved line fails here
        assert record["pad"] == f"{record['writer']}" * (8000 + record["i"])
        seen[record["writer"]].append(record["i"])
    assert all(order == list(range(per_writer)) for order in seen.values())
    assert len(read_records(path)) == writers * per_writer


def test_read_records_skips_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    append_jsonl(path, {"a": 1})
    with path.open("ab") as handle:
        handle.write(b'{"a": 2, "b"')  # killed mid-line
    assert read_records(path) == [{"a": 1}]


def test_output_checks_name_the_file_in_the_way(tmp_path: Path) -> None:
    a_file = tmp_path / "taken"
    a_file.write_text("user data", encoding="utf-8")
    with pytest.raises(ConfigError, match="taken is an existing file"):
        check_out_folder(a_file)
    with pytest.raises(ConfigError, match="taken is an existing file"):
        check_out_folder(a_file / "sub")
    with pytest.raises(ConfigError, match="existing folder"):
        check_out_file(tmp_path)
    assert check_out_folder(tmp_path / "new" / "dir") == tmp_path / "new" / "dir"
    assert a_file.read_text(encoding="utf-8") == "user data"


def _linked(path: Path) -> Path:
    """A second name for ``path``'s current bytes, to tell a rename from an in-place write."""
    keep = path.with_name(path.name + ".keep")
    os.link(path, keep)
    return keep


def test_model_card_and_sidecar_are_replaced_not_rewritten(tmp_path: Path) -> None:
    from harness.train.card import CARD, SIDECAR, read_sidecar, write_model_card, write_sidecar

    metadata = {
        "base_model": "org/base",
        "dataset": "org/data",
        "target_language": "de",
        "student_family": "tiny",
        "teacher": "org/teacher",
        "n_train_rows": 3,
        "hyperparameters": {"lr": 1e-4},
    }
    (tmp_path / SIDECAR).write_text("{}", encoding="utf-8")
    (tmp_path / CARD).write_text("old card", encoding="utf-8")
    keep_sidecar, keep_card = _linked(tmp_path / SIDECAR), _linked(tmp_path / CARD)
    write_sidecar(tmp_path, metadata)
    write_model_card(tmp_path, metadata)
    assert read_sidecar(tmp_path) == metadata
    assert "org/teacher" in (tmp_path / CARD).read_text(encoding="utf-8")
    assert keep_sidecar.read_text(encoding="utf-8") == "{}"
    assert keep_card.read_text(encoding="utf-8") == "old card"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_generation_progress_is_replaced_not_rewritten(tmp_path: Path) -> None:
    from harness.generate.runner import _load_progress, _save_progress

    path = tmp_path / "progress.json"
    _save_progress(path, {"k": 1}, {"a"})
    keep = _linked(path)
    _save_progress(path, {"k": 1}, {"a", "b"})
    assert _load_progress(path, {"k": 1}) == {"a", "b"}
    assert json.loads(keep.read_text(encoding="utf-8"))["done"] == ["a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["progress.json", "progress.json.keep"]
