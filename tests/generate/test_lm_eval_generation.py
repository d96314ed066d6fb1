"""Real lm-eval runs of the polyglot tasks through the `hf` backend, then collect."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from harness.collect import collect, load_collected, stats_rows
from harness.errors import EmptyDataError, InputNotFoundError
from harness.generate.runner import GenerationConfig, plan_chunks, run_generation
from harness.protocol import PAIR_SCHEMA, SCHEMA_DOC_KEY
from harness.schema import SFT_COLUMNS


@pytest.fixture(scope="module")
def python_api_run(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("runs_api")
    config = GenerationConfig(
        model="hf",
        model_args=f"pretrained={tiny_model_dir},dtype=float32",
        languages=["de", "ja"],
        limit=2,
        max_gen_toks=12,
        batch_size=4,
        device="cpu",
    )
    results = run_generation(config, out)
    assert set(results["results"]) >= {"polyglot_generate_de", "polyglot_respond_ja"}
    return out


def test_python_api_run_logs_samples_with_system_prompt(python_api_run: Path) -> None:
    files = sorted(python_api_run.rglob("samples_polyglot_translate_de_*.jsonl"))
    assert files
    sample = json.loads(files[0].read_text(encoding="utf-8").splitlines()[0])
    rendered = sample["arguments"]["gen_args_0"]["arg_0"]
    # The system prompt is a real system turn of the teacher's chat template.
    assert rendered.startswith(
        "<|im_start|>system\nYou are a fluent, native-level expert in German"
    )
    assert "English prompt:" in rendered
    gen = sample["arguments"]["gen_args_0"]["arg_1"]
    assert gen["temperature"] == 0.8 and gen["top_p"] == 0.9 and gen["max_gen_toks"] == 12
    # Pair strategies carry the schema through lm-eval to the backend (and the log).
    assert sample["doc"][SCHEMA_DOC_KEY] == PAIR_SCHEMA


def test_respond_sample_asks_in_english_for_an_answer_in_the_language(
    python_api_run: Path,
) -> None:
    (path,) = sorted(python_api_run.rglob("samples_polyglot_respond_ja_*.jsonl"))[:1]
    sample = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    rendered = sample["arguments"]["gen_args_0"]["arg_0"]
    assert f"Answer the following prompt in Japanese.\n\n{sample['doc']['source_prompt']}" in (
        rendered
    )
    assert SCHEMA_DOC_KEY not in sample["doc"]


def test_collect_writes_schema_and_counts_garbage(python_api_run: Path, tmp_path: Path) -> None:
    written = collect(python_api_run, tmp_path / "data", teacher="tiny-random")
    assert set(written) == {("tiny-random", "de"), ("tiny-random", "ja")}
    ds = load_collected(written[("tiny-random", "de")])
    assert ds.column_names == list(SFT_COLUMNS)
    assert len(ds) == 6  # 3 strategies x limit 2
    # A random-init model writes garbage. Under paper, a pair that does not parse is
    # invalid, but any non-empty answer to a respond prompt is valid.
    for row in ds:
        expected = row["strategy"] == "respond" and bool(row["raw_output"].strip())
        assert row["valid"] is expected and bool(row["invalid_reason"]) is not expected
    # Under corrected, every row is invalid, with a reason, and kept.
    written = collect(
        python_api_run, tmp_path / "corrected", teacher="tiny-random", protocol="corrected"
    )
    ds = load_collected(written[("tiny-random", "de")])
    assert not any(ds["valid"])
    assert all(ds["invalid_reason"])
    assert {r["strategy"] for r in ds} == {"generate", "translate", "respond"}
    row = ds[0]
    assert row["messages"][0]["role"] == "user" and row["messages"][1]["role"] == "assistant"
    assert row["temperature"] == 0.8 and row["max_gen_toks"] == 12 and row["raw_output"]
    stats = stats_rows(ds)
    assert [s["strategy"] for s in stats] == ["generate", "respond", "translate"]
    assert all(s["valid_rate"] == 0.0 for s in stats)


def test_rerun_skips_finished_chunks_and_resumes(tmp_path: Path, tiny_model_dir: Path) -> None:
    config = GenerationConfig(
        model="hf", model_args=f"pretrained={tiny_model_dir},dtype=float32",
        languages=["de"], strategies=["respond"], limit=3, max_gen_toks=6,
        batch_size=4, device="cpu", chunk_size=2,
    )  # fmt: skip
    assert plan_chunks({"a": 3, "b": 1}, 2) == [{"a": [0, 1], "b": [0]}, {"a": [2]}]
    run_generation(config, tmp_path)
    first = sorted(tmp_path.rglob("samples_polyglot_respond_de_*.jsonl"))
    assert len(first) == 2  # two chunks: docs 0-1 and doc 2
    # Simulate an interruption after the first chunk: forget the second one.
    progress = next((tmp_path / ".progress").glob("*.json"))
    state = json.loads(progress.read_text())
    state["done"] = ["polyglot_respond_de:0-1"]
    progress.write_text(json.dumps(state))
    first[1].unlink()
    run_generation(config, tmp_path)
    after = sorted(tmp_path.rglob("samples_polyglot_respond_de_*.jsonl"))
    assert first[0] in after and len(after) == 2  # chunk 0 kept, chunk 1 regenerated
    docs = [json.loads(line)["doc_id"] for p in after for line in p.read_text().splitlines()]
    assert sorted(docs) == [0, 1, 2]
    assert run_generation(config, tmp_path) == {}  # all done: nothing runs
    ds = load_collected(collect(tmp_path, tmp_path / "data")[(str(tiny_model_dir), "de")])
    assert len(ds) == 3
    # A larger --limit later extends the short last chunk instead of skipping it.
    config.limit = 4
    run_generation(config, tmp_path)
    ds = load_collected(collect(tmp_path, tmp_path / "data")[(str(tiny_model_dir), "de")])
    assert sorted(ds["doc_id"]) == [0, 1, 2, 3]


def test_lm_eval_cli_glob_then_collect_cli(tmp_path: Path, tiny_model_dir: Path) -> None:
    out = tmp_path / "runs"
    cmd = [
        sys.executable, "-m", "lm_eval", "--model", "hf",
        "--model_args", f"pretrained={tiny_model_dir},dtype=float32",
        "--tasks", "polyglot_*", "--limit", "1", "--batch_size", "8", "--device", "cpu",
        "--gen_kwargs", "max_gen_toks=6", "--apply_chat_template", "--log_samples",
        "--output_path", str(out),
    ]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(list(out.rglob("samples_polyglot_*.jsonl"))) == 18  # 6 languages x 3 strategies
    assert "polyglot_eval" not in run.stdout and "polyglot_judge" not in run.stdout
    cli = subprocess.run(
        [sys.executable, "-m", "harness.cli.main", "collect", str(out), "--out", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr[-2000:]
    assert "valid_rate" in cli.stdout
    assert len(list((tmp_path / "data").rglob("data.parquet"))) == 6


def test_collect_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="no such folder"):
        collect(tmp_path / "missing", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmptyDataError, match="no lm-eval results of polyglot_"):
        collect(tmp_path / "empty", tmp_path / "out")


def test_corrupt_samples_lines_are_skipped_and_rest_kept(
    python_api_run: Path, tmp_path: Path
) -> None:
    import shutil

    copy = tmp_path / "runs"
    shutil.copytree(python_api_run, copy)
    target = sorted(copy.rglob("samples_polyglot_respond_ja_*.jsonl"))[0]
    target.write_text(target.read_text() + "{not json\n", encoding="utf-8")
    written = collect(copy, tmp_path / "data")
    assert any(lang == "ja" for _, lang in written)


def test_intrinsic_cli_on_data_collected_from_a_real_run(
    python_api_run: Path, tmp_path: Path, tiny_model_dir: Path
) -> None:
    from harness.cli.main import main
    from harness.intrinsic.run import read_summary

    written = collect(python_api_run, tmp_path / "data", teacher="tiny-random")
    metrics = ["validity", "lengths", "lexical", "duplicates"]
    code = main([
        "intrinsic", str(tmp_path / "data"), "--out", str(tmp_path / "metrics"),
        "--metrics", ",".join(metrics), "--tokenizer", str(tiny_model_dir), "--no-progress",
    ])  # fmt: skip
    assert code == 0
    summary = read_summary(tmp_path / "metrics")
    assert {(r["teacher"], r["language"]) for r in summary} == {
        ("tiny-random", "de"),
        ("tiny-random", "ja"),
    }
    for row in summary:  # the verdicts collect wrote are the ones intrinsic counts
        valid = sum(load_collected(written[("tiny-random", row["language"])])["valid"])
        assert row["n_rows"] == 6 and row["n_valid"] == valid
        assert row["valid_rate"] == valid / 6


def test_secrets_in_model_args_reach_no_file_and_no_log(
    tmp_path: Path,
    tiny_model_dir: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A real run with a credential that HF accepts (and ignores for a local model)."""
    secret = "hf_FAKEsecret0123456789abcdef"
    config = GenerationConfig(
        model="hf", model_args=f"pretrained={tiny_model_dir},dtype=float32,token={secret}",
        languages=["de"], strategies=["respond"], limit=2, max_gen_toks=4,
        batch_size=2, device="cpu",
    )  # fmt: skip
    with caplog.at_level(logging.DEBUG):
        results = run_generation(config, tmp_path)
    assert results["config"]["model_args"] == f"pretrained={tiny_model_dir},dtype=float32"
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name.startswith("results_") for p in written)
    assert any(p.name.startswith("samples_polyglot_respond_de") for p in written)
    for path in written:
        assert secret not in str(path.relative_to(tmp_path)), path
        assert secret.encode() not in path.read_bytes(), path
    assert secret not in caplog.text
    out, err = capfd.readouterr()
    assert secret not in out and secret not in err
