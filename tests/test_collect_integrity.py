"""collect never loses a sample or finished data silently (issue 12, items 3, 4, 8, 11, 14),
and judges every row under one recorded protocol (issue 11).

One real lm-eval run of a tiny model feeds every test; each test edits a copy of its
samples files the way a corrupt file, an old seed file or a custom task would.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.cli.main import main
from harness.collect import collect, load_collected, stats_rows
from harness.errors import ConfigError
from harness.generate.runner import GenerationConfig, run_generation


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    """German translate + respond, 4 documents each, asking for more docs than exist."""
    out = tmp_path_factory.mktemp("integrity_runs")
    config = GenerationConfig(
        model="hf", model_args=f"pretrained={tiny_model_dir},dtype=float32",
        languages=["de"], strategies=["translate", "respond"], limit=4, n_docs=40,
        max_gen_toks=8, batch_size=8, device="cpu",
    )  # fmt: skip
    run_generation(config, out)
    return out


def _copy(run: Path, dest: Path) -> Path:
    shutil.copytree(run, dest)
    return dest


def _samples(runs: Path, task: str) -> Path:
    (path,) = sorted(runs.rglob(f"samples_{task}_*.jsonl"))
    return path


def _rewrite(path: Path, edit: Callable[[int, dict[str, Any]], dict[str, Any] | None]) -> None:
    """Apply ``edit(index, sample)`` to every line; ``None`` drops the line."""
    lines = path.read_text(encoding="utf-8").splitlines()
    kept = [edit(i, json.loads(line)) for i, line in enumerate(lines)]
    path.write_text("".join(json.dumps(s) + "\n" for s in kept if s is not None), "utf-8")


def _set_output(sample: dict[str, Any], text: str) -> dict[str, Any]:
    sample["resps"], sample["filtered_resps"] = [[text]], [text]
    return sample


def _rows(path: Path) -> list[dict[str, Any]]:
    return load_collected(path).to_list()


def test_collect_samples_without_seed_id_each_keep_a_row(
    real_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runs = _copy(real_run, tmp_path / "runs")

    def drop_id(_: int, sample: dict[str, Any]) -> dict[str, Any]:
        del sample["doc"]["seed_id"]
        return sample

    _rewrite(_samples(runs, "polyglot_respond_de"), drop_id)
    with caplog.at_level(logging.WARNING, logger="harness.collect"):
        path = collect(runs, tmp_path / "data", teacher="t")[("t", "de")]
    respond = [r for r in _rows(path) if r["strategy"] == "respond"]
    assert len(respond) == 4  # not collapsed onto one ("respond", "") key
    assert sorted(r["seed_id"] for r in respond) == [
        f"polyglot_respond_de-doc{i}" for i in range(4)
    ]
    assert "4 samples had no seed_id" in caplog.text


def test_collect_duplicate_seed_ids_in_one_run_are_kept_and_counted(
    real_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runs = _copy(real_run, tmp_path / "runs")

    def same_id(_: int, sample: dict[str, Any]) -> dict[str, Any]:
        sample["doc"]["seed_id"] = "de-0001"
        return sample

    _rewrite(_samples(runs, "polyglot_respond_de"), same_id)
    with caplog.at_level(logging.WARNING, logger="harness.collect"):
        path = collect(runs, tmp_path / "data", teacher="t")[("t", "de")]
    ids = sorted(r["seed_id"] for r in _rows(path) if r["strategy"] == "respond")
    assert ids == ["de-0001", "de-0001~doc1", "de-0001~doc2", "de-0001~doc3"]
    assert "3 samples shared a seed_id within a run" in caplog.text
    assert "8 samples read, 8 rows written" in caplog.text


def test_collect_counts_samples_a_later_run_replaces(
    real_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runs = _copy(real_run, tmp_path / "runs")
    (results,) = runs.rglob("results_*.json")
    run_id = results.stem.removeprefix("results_")
    for path in list(results.parent.glob(f"*{run_id}*")):  # the same run, a later timestamp
        shutil.copy(path, path.with_name(path.name.replace(run_id, "9999-12-31T00-00-00.0")))
    with caplog.at_level(logging.WARNING, logger="harness.collect"):
        path = collect(runs, tmp_path / "data", teacher="t")[("t", "de")]
    assert len(_rows(path)) == 8
    assert {r["run_id"] for r in _rows(path)} == {"9999-12-31T00-00-00.0"}
    assert "16 samples read, 8 rows written" in caplog.text
    assert "8 samples were replaced by a later run's sample" in caplog.text


def test_collect_merges_into_an_existing_dataset_never_replacing_it_with_less(
    real_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "data"
    first = collect(real_run, out, teacher="t")[("t", "de")]
    assert len(_rows(first)) == 8
    # A later, smaller runs folder: one respond sample, now a valid German answer.
    later = _copy(real_run, tmp_path / "later")
    _samples(later, "polyglot_translate_de").unlink()
    answer = "Die Hauptstadt von Frankreich ist Paris, das weiß jeder Schüler."
    _rewrite(
        _samples(later, "polyglot_respond_de"),
        lambda i, s: _set_output(s, answer) if i == 0 else None,
    )
    with caplog.at_level(logging.WARNING, logger="harness.collect"):
        path = collect(later, out, teacher="t")[("t", "de")]
    rows = _rows(path)
    assert len(rows) == 8  # 7 finished rows kept, 1 replaced
    assert [r["response"] for r in rows if r["correction_reason"] is None and r["valid"]] == [
        answer
    ]  # the one German answer; garbage respond rows pass paper's check only
    assert "kept 7 existing row(s)" in caplog.text and "--overwrite" in caplog.text
    # On purpose: the CLI's --overwrite replaces the dataset with exactly the new runs.
    argv = ["collect", str(later), "--out", str(out), "--teacher", "t", "--overwrite"]
    assert main([*argv, "--protocol", "corrected"]) == 0
    assert [r["response"] for r in _rows(path)] == [answer]
    assert [r["valid"] for r in _rows(path)] == [True]


def test_collect_refuses_to_merge_into_a_file_it_cannot_read(
    real_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "data" / "t" / "de" / "data.parquet"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not a parquet file")
    argv = ["collect", str(real_run), "--out", str(tmp_path / "data"), "--teacher", "t"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(target) in err and "--overwrite" in err
    assert target.read_bytes() == b"not a parquet file"  # untouched
    assert main([*argv, "--overwrite"]) == 0
    assert len(_rows(target)) == 8


def test_collect_rerun_on_the_same_runs_is_byte_identical(real_run: Path, tmp_path: Path) -> None:
    path = collect(real_run, tmp_path / "data", teacher="t")[("t", "de")]
    before = path.read_bytes()
    collect(real_run, tmp_path / "data", teacher="t")
    assert path.read_bytes() == before


def test_collect_non_utf8_samples_line_is_one_error_naming_file_and_line(
    real_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = _copy(real_run, tmp_path / "runs")
    samples = _samples(runs, "polyglot_respond_de")
    lines = samples.read_bytes().splitlines(keepends=True)
    samples.write_bytes(lines[0] + b'{"doc": "\xff\xfe"}\n' + b"".join(lines[1:]))
    assert main(["collect", str(runs), "--out", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{samples}:2: not valid UTF-8" in err
    assert not (tmp_path / "data").exists()  # nothing half-collected


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ('{"doc": "just a string", "doc_id": 0}', "not an lm-eval sample"),
        ('{"doc_id": 0, "resps": [["x"]]}', "not an lm-eval sample"),
        (
            '{"doc": {"seed_id": "x"}, "doc_id": "zero"}',
            "not an lm-eval sample (no integer 'doc_id')",
        ),
        ("{not json", "not valid JSON"),
    ],
)
def test_collect_malformed_sample_before_the_last_line_is_an_error(
    real_run: Path, tmp_path: Path, bad_line: str, message: str
) -> None:
    runs = _copy(real_run, tmp_path / "runs")
    samples = _samples(runs, "polyglot_translate_de")
    lines = samples.read_text(encoding="utf-8").splitlines()
    samples.write_text("\n".join([bad_line, *lines]) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=f"^{re.escape(str(samples))}:1: {re.escape(message)}"):
        collect(runs, tmp_path / "data")


def test_collect_skips_only_a_trailing_partial_line_with_a_count(
    real_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runs = _copy(real_run, tmp_path / "runs")
    samples = _samples(runs, "polyglot_translate_de")
    text = samples.read_text(encoding="utf-8")
    samples.write_text(text + text.splitlines()[0][:40], encoding="utf-8")  # killed mid-write
    with caplog.at_level(logging.WARNING, logger="harness.collect"):
        path = collect(runs, tmp_path / "data", teacher="t")[("t", "de")]
    assert len(_rows(path)) == 8
    assert f"{samples}:5: incomplete last line" in caplog.text
    assert "1 incomplete last lines were skipped" in caplog.text


def test_collect_marks_text_too_short_for_language_id_invalid_and_counts_it(
    real_run: Path, tmp_path: Path
) -> None:
    runs = _copy(real_run, tmp_path / "runs")
    _rewrite(_samples(runs, "polyglot_respond_de"), lambda _, s: _set_output(s, "Das ist gut so."))
    path = collect(runs, tmp_path / "data", teacher="t", protocol="corrected")[("t", "de")]
    respond = [r for r in _rows(path) if r["strategy"] == "respond"]
    assert [r["invalid_reason"] for r in respond] == ["undetermined_language"] * 4
    assert not any(r["valid"] for r in respond)  # train reads only valid rows
    (stats,) = [s for s in stats_rows(load_collected(path)) if s["strategy"] == "respond"]
    assert "undetermined_language:4" in stats["top_invalid"]
    assert stats["correction_flags"] == ""  # corrected: nothing left to flag


def test_collect_under_paper_keeps_what_langid_would_drop_and_says_so(
    real_run: Path, tmp_path: Path
) -> None:
    """Protocol fact: the paper has no language check; the verdict is recorded, not applied."""
    runs = _copy(real_run, tmp_path / "runs")
    _rewrite(_samples(runs, "polyglot_respond_de"), lambda _, s: _set_output(s, "Das ist gut so."))
    path = collect(runs, tmp_path / "data", teacher="t", protocol="paper")[("t", "de")]
    respond = [r for r in _rows(path) if r["strategy"] == "respond"]
    assert all(r["valid"] and r["invalid_reason"] is None for r in respond)
    assert [r["correction_reason"] for r in respond] == ["undetermined_language"] * 4
    (stats,) = [s for s in stats_rows(load_collected(path)) if s["strategy"] == "respond"]
    assert stats["valid_rate"] == 1.0 and stats["correction_flags"] == "undetermined_language:4"


def _record_protocol(runs: Path, protocol: str | None, deviations: dict | None = None) -> None:
    """Leave (or, with None, remove) the generation run's record of its protocol."""
    from harness.protocol import resolve

    for old in runs.rglob("polyglot_run.json"):
        old.unlink()
    if protocol is not None:
        record = resolve(protocol).record(deviations)
        (runs / "polyglot_run.json").write_text(json.dumps({"protocol": record}), "utf-8")


def test_collect_applies_the_protocol_the_generation_run_recorded(
    real_run: Path, tmp_path: Path
) -> None:
    from harness.collect import collected_protocol

    runs = _copy(real_run, tmp_path / "runs")
    _rewrite(_samples(runs, "polyglot_respond_de"), lambda _, s: _set_output(s, "Das ist gut so."))

    def respond_valid(**kwargs: Any) -> list[bool]:
        path = collect(runs, tmp_path / "data", teacher="t", overwrite=True, **kwargs)[("t", "de")]
        return [r["valid"] for r in _rows(path) if r["strategy"] == "respond"]

    path = tmp_path / "data" / "t" / "de" / "data.parquet"
    _record_protocol(runs, None)  # nothing recorded: paper
    assert respond_valid() == [True] * 4
    assert collected_protocol(path) == {"name": "paper", "corrections": [], "deviations": {}}
    _record_protocol(runs, "corrected", {"n_docs": 40})
    assert respond_valid() == [False] * 4
    recorded = collected_protocol(path)
    assert recorded["name"] == "corrected" and recorded["deviations"] == {"n_docs": 40}
    assert "langid_validity" in recorded["corrections"]
    assert respond_valid(protocol="paper") == [True] * 4  # given wins over recorded
    assert collected_protocol(path)["deviations"] == {"n_docs": 40}  # the data's, kept
    # An lm-eval CLI run has no run record but may carry the protocol in --metadata.
    _record_protocol(runs, None)
    (results,) = runs.rglob("results_*.json")
    data = json.loads(results.read_text(encoding="utf-8"))
    for config in data["configs"].values():
        config.setdefault("metadata", {})["protocol"] = "paper+langid_validity"
    results.write_text(json.dumps(data), encoding="utf-8")
    assert respond_valid() == [False] * 4
    assert collected_protocol(path)["name"] == "paper+langid_validity"


def test_collect_refuses_runs_recording_different_protocols(real_run: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    _record_protocol(_copy(real_run, runs / "a"), "paper")
    _record_protocol(_copy(real_run, runs / "b"), "corrected")
    with pytest.raises(ConfigError, match=r"record different protocols .*'paper'.*'corrected'"):
        collect(runs, tmp_path / "data", teacher="t")
    assert not (tmp_path / "data").exists()
    path = collect(runs, tmp_path / "data", teacher="t", protocol="corrected")[("t", "de")]
    assert len(_rows(path)) == 8


def test_collect_refuses_to_merge_across_protocols(real_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "data"
    path = collect(real_run, out, teacher="t", protocol="paper")[("t", "de")]
    before = path.read_bytes()
    with pytest.raises(ConfigError, match=r"collected under protocol 'paper'.*--overwrite"):
        collect(real_run, out, teacher="t", protocol="corrected")
    assert path.read_bytes() == before
    collect(real_run, out, teacher="t", protocol="corrected", overwrite=True)
    from harness.collect import collected_protocol

    assert collected_protocol(path)["name"] == "corrected"


def test_collect_cli_protocol_flag(
    real_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.collect import collected_protocol

    argv = ["collect", str(real_run), "--out", str(tmp_path / "data"), "--teacher", "t"]
    assert main([*argv, "--protocol", "paper+refusal_filtr"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "refusal_filtr" in err and "refusal_filter" in err
    assert not (tmp_path / "data").exists()
    assert main([*argv, "--protocol", "paper+refusal_filter"]) == 0
    assert "correction_flags" in capsys.readouterr().out
    record = collected_protocol(tmp_path / "data" / "t" / "de")
    assert record["name"] == "paper+refusal_filter"


def test_collect_records_capped_strategies_for_the_dataset_card(
    real_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from harness.collect import collected_notes
    from harness.publish.cards import dataset_card

    with caplog.at_level(logging.WARNING, logger="harness.collect"):
        path = collect(real_run, tmp_path / "data", teacher="t")[("t", "de")]
    assert "translate asked for 40 documents but the seed pool (bundled) held only 30" in (
        caplog.text
    )
    notes = collected_notes(path)
    assert notes == [
        "de respond: 40 documents were requested, but the seed pool (bundled) held only 24 "
        "prompts, so this strategy has at most 24 rows",
        "de translate: 40 documents were requested, but the seed pool (bundled) held only 30 "
        "prompts, so this strategy has at most 30 rows",
    ]
    card = dataset_card(
        None, teacher="t", repo_id="org/t", per_language={"de": _rows(path)}, intrinsic=[],
        license="other", harness_version="0", notes=notes,
    )  # fmt: skip
    assert f"- {notes[1]}" in card
    # The record survives a merge with a later collect of other runs.
    collect(real_run, tmp_path / "data", teacher="t")
    assert collected_notes(path) == notes


def test_collect_caps_reach_the_published_dataset_card(
    real_run: Path, tmp_path: Path, hub_api: Any, hub_token: str
) -> None:
    import uuid

    from harness.publish import PublishConfig, RepoNames, publish

    collect(real_run, tmp_path / "data", teacher="org/capped-teacher")
    org = f"caps-{uuid.uuid4().hex[:8]}"
    publish(PublishConfig(org=org, inputs=[str(tmp_path / "data")], retry_delay=0.05),
            token=hub_token)  # fmt: skip
    repo = RepoNames(org).dataset("org/capped-teacher")
    readme = Path(hub_api.hf_hub_download(repo, "README.md", repo_type="dataset")).read_text()
    assert "- de translate: 40 documents were requested, but the seed pool (bundled) held " in (
        readme
    )


def test_collect_reads_the_protocol_a_real_generation_run_recorded(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    """The generate stage's run record is what collect defaults to, deviations and all."""
    from harness.collect import collected_protocol

    config = GenerationConfig(
        model="hf", model_args=f"pretrained={tiny_model_dir},dtype=float32",
        languages=["de"], strategies=["respond"], limit=2, max_gen_toks=4,
        batch_size=2, device="cpu", protocol="paper+refusal_filter",
    )  # fmt: skip
    run_generation(config, tmp_path / "runs")
    path = collect(tmp_path / "runs", tmp_path / "data", teacher="t")[("t", "de")]
    record = collected_protocol(path)
    assert record["name"] == "paper+refusal_filter"
    assert record["corrections"] == ["refusal_filter"]
    assert record["deviations"]  # a 2-document, 4-token run is off the protocol, and says so
