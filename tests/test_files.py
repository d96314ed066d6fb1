"""The one I/O module: atomic writes, the append-only log and the one JSONL reader, under
kills, concurrent writers and damaged files; the one collected-dataset lookup.

Also checks that the outputs moved onto the helper (model card, sidecar, generation
progress) are replaced by a rename, never rewritten in place: a file rewritten in place
is torn by a kill mid-write, a renamed one is old or new.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.errors import ConfigError, InputNotFoundError
from harness.files import (
    append_jsonl,
    atomic_write,
    atomic_write_text,
    check_out_file,
    check_out_folder,
    data_file,
    read_jsonl,
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


# --- a real kill -------------------------------------------------------------------------

_KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from harness.files import atomic_write

    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write("new but only ha")
            handle.flush()
        print("half written", flush=True)
        time.sleep(60)  # killed here

    atomic_write(sys.argv[1], write)
    """
)


def test_a_writer_killed_mid_write_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "scores.jsonl"
    target.write_text('{"old": 1}\n', encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(target)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "half written\n"
        temps = [p for p in tmp_path.iterdir() if p != target]
        assert [p.read_text(encoding="utf-8") for p in temps] == ["new but only ha"]
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert target.read_text(encoding="utf-8") == '{"old": 1}\n'  # never the half-written one
    assert [record for _, record in read_jsonl(target)] == [{"old": 1}]


def test_a_folder_is_replaced_whole_and_a_failed_one_leaves_the_old(tmp_path: Path) -> None:
    target = tmp_path / "model"
    target.mkdir()
    (target / "weights").write_text("old", encoding="utf-8")

    def half_folder(tmp: Path) -> None:
        tmp.mkdir()
        (tmp / "weights").write_text("new but on", encoding="utf-8")
        raise _Killed

    with pytest.raises(_Killed):
        atomic_write(target, half_folder)
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temp folder left
    assert (target / "weights").read_text(encoding="utf-8") == "old"

    def whole_folder(tmp: Path) -> None:
        tmp.mkdir()
        (tmp / "config").write_text("new", encoding="utf-8")

    atomic_write(target, whole_folder)
    assert sorted(p.name for p in target.iterdir()) == ["config"]  # nothing of the old one
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


# --- the one JSONL reader ----------------------------------------------------------------


def _jsonl(path: Path, *lines: bytes) -> Path:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def test_read_jsonl_names_file_and_line_of_a_bad_middle_line(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "a.jsonl", b'{"a": 1}', b"", b'{"a": 2, "b"', b'{"a": 3}')
    for torn in ("none", "last"):  # a cut line followed by whole ones is damage, not a kill
        with pytest.raises(ConfigError, match=rf"^{path}:3: not valid JSON \(.*remove the line"):
            list(read_jsonl(path, torn=torn))  # type: ignore[arg-type]


def test_read_jsonl_skips_a_torn_last_line_only_where_asked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "samples.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": 2}\n{"a": 3, "text": "ha')  # killed mid-line
    with pytest.raises(ConfigError, match=rf"^{path}:3: not valid JSON"):
        list(read_jsonl(path))
    skipped: list[str] = []
    with caplog.at_level(logging.WARNING, logger="harness.files"):
        records = [r for _, r in read_jsonl(path, torn="last", skipped=skipped)]
    assert records == [{"a": 1}, {"a": 2}]
    assert skipped == [f"{path}:3"]
    assert f"{path}:3: incomplete last line" in caplog.text


def test_read_jsonl_a_kill_inside_a_multibyte_character_is_a_torn_line(tmp_path: Path) -> None:
    whole = json.dumps({"text": "Grüße"}, ensure_ascii=False).encode("utf-8")
    cut = whole[: whole.index("ü".encode()) + 1]  # the first of ü's two bytes
    path = _jsonl(tmp_path / "a.jsonl", b'{"a": 1}', cut)
    assert [r for _, r in read_jsonl(path, torn="last")] == [{"a": 1}]


def test_read_jsonl_names_non_utf8_bytes_by_line_and_byte(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "a.jsonl", b'{"a": 1}', b'{"a": "\xff\xfe"}', b'{"a": 3}')
    for torn in ("none", "last"):  # byte 7 counted from 0: after the 7 bytes of '{"a": "'
        with pytest.raises(ConfigError, match=rf"^{path}:2: not valid UTF-8 \(.* at byte 7\)"):
            list(read_jsonl(path, torn=torn))  # type: ignore[arg-type]


def test_read_jsonl_refuses_a_line_that_is_json_but_no_object(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "a.jsonl", b'{"a": 1}', b"[1, 2]")
    for torn in ("none", "last"):  # a cut object never parses as a list: not a kill
        with pytest.raises(ConfigError, match=rf"^{path}:2: expected a JSON object per line"):
            list(read_jsonl(path, torn=torn))  # type: ignore[arg-type]


def test_read_jsonl_keeps_unicode_line_separators_inside_strings(tmp_path: Path) -> None:
    record = {"text": "eins\u2028zwei\u0085drei\x1cvier"}  # str.splitlines cuts at each
    append_jsonl(tmp_path / "log.jsonl", record)
    assert read_records(tmp_path / "log.jsonl") == [record]
    assert [r for _, r in read_jsonl(tmp_path / "log.jsonl")] == [record]


def test_read_records_skips_torn_lines_anywhere_in_a_shared_log(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    append_jsonl(path, {"a": 1})
    with path.open("ab") as handle:
        handle.write(b'{"a": 2, "pad": "xx')  # one writer killed mid-line...
    append_jsonl(path, {"a": 3})  # ...and another's line lands after it, on the same line
    append_jsonl(path, {"a": 4})
    with path.open("ab") as handle:
        handle.write(b"[5]\n\xff\n")
    assert read_records(path) == [{"a": 1}, {"a": 4}]
    assert read_records(tmp_path / "no-log-yet.jsonl") == []


def test_read_jsonl_a_missing_file_is_input_not_found(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match=r"nowhere\.jsonl does not exist"):
        list(read_jsonl(tmp_path / "nowhere.jsonl"))


def test_read_jsonl_a_partial_parser_stands_in_for_json_loads(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "a.jsonl", b'{"doc": "long", "x": 1}', b'{"doc": "long", "x": 2}')

    def tail(line: str) -> dict[str, int]:  # what a fast parser of the last key returns
        return {"x": int(line.rsplit(":", 1)[1].strip(" }\n"))}

    assert [r for _, r in read_jsonl(path, parse=tail)] == [{"x": 1}, {"x": 2}]

    def broken(line: str) -> dict[str, int]:
        raise ValueError("cannot read this")

    with pytest.raises(ConfigError, match=rf"^{path}:1: not readable JSON \(cannot read this\)"):
        list(read_jsonl(path, parse=broken))


# --- the one collected-dataset lookup ----------------------------------------------------


def test_data_file_takes_the_parquet_or_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "teacher" / "de"
    folder.mkdir(parents=True)
    with pytest.raises(InputNotFoundError, match=rf"no collected dataset at {folder}/data.parquet"):
        data_file(folder)
    (folder / "data.parquet").write_bytes(b"PAR1")
    assert data_file(folder) == folder / "data.parquet"
    assert data_file(folder / "data.parquet") == folder / "data.parquet"
    with pytest.raises(InputNotFoundError, match=r"other\.parquet: pass a data\.parquet file"):
        data_file(folder / "other.parquet")
