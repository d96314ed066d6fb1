"""One generator writes every task folder; a stale file in any of them fails here.

Also: a benchmark defined by one record file in a folder outside the package gets its
tasks written, runs in plain ``lm_eval`` on a tiny model, and the scorer reads it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness import taskgen
from harness.paths import tasks_path

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "benchmarks"


@pytest.mark.parametrize("folder", taskgen.FOLDERS)
def test_checked_in_task_folder_is_current(folder: str) -> None:
    stale = [rel for rel in taskgen.stale_files() if rel.startswith(f"{folder}/")]
    assert not stale, f"stale under tasks/{folder}: {stale}; run python -m harness.taskgen"


def test_every_generated_file_is_headed_do_not_edit() -> None:
    for rel, text in taskgen.render_all().items():
        assert text.startswith(taskgen.HEADER), rel


def test_check_exits_non_zero_naming_every_stale_file(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert taskgen.main(["--out", str(tmp_path)]) == 0
    assert taskgen.main(["--check", "--out", str(tmp_path)]) == 0
    edited = tmp_path / "polyglot_judge" / "polyglot_judge.yaml"
    edited.write_text(edited.read_text(encoding="utf-8").replace("2048", "512"))
    missing = tmp_path / "polyglot" / "polyglot_respond_de.yaml"
    missing.unlink()
    leftover = tmp_path / "polyglot_eval" / "de" / "polyglot_eval_old_de.yaml"
    leftover.write_text(taskgen.HEADER + "task: polyglot_eval_old_de\n")
    hand = tmp_path / "polyglot_eval" / "de" / "mine.yaml"
    hand.write_text("task: mine\n")
    capsys.readouterr()
    assert taskgen.main(["--check", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    for path in (edited, missing, leftover):
        assert f"stale: {path}" in err
    assert "mine.yaml" not in err
    assert taskgen.main(["--out", str(tmp_path)]) == 0
    assert not leftover.exists() and hand.exists() and missing.exists()
    assert "max_gen_toks: 2048" in edited.read_text(encoding="utf-8")


def test_the_judge_task_takes_its_token_cap_from_the_judge() -> None:
    from harness.intrinsic.judge import JUDGE_MAX_GEN_TOKS

    text = (tasks_path() / "polyglot_judge" / "polyglot_judge.yaml").read_text(encoding="utf-8")
    assert f"\n  max_gen_toks: {JUDGE_MAX_GEN_TOKS}\n" in text


def test_generation_tasks_written_elsewhere_reuse_the_package_template(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a language pack's tasks are: leaves and the language group, nothing shared."""
    from lm_eval.tasks import TaskManager

    written = taskgen.write_generation_tasks(["de"], tmp_path)
    assert sorted(p.name for p in written) == [
        "polyglot_de.yaml",
        "polyglot_generate_de.yaml",
        "polyglot_respond_de.yaml",
        "polyglot_translate_de.yaml",
    ]
    monkeypatch.setenv("POLYGLOT_HARNESS_AUTOLOAD", "0")  # only tmp_path on the path
    manager = TaskManager(include_path=str(tmp_path), include_defaults=False)
    tasks = manager.load(["polyglot_de"])["tasks"]
    respond = tasks["polyglot_respond_de"]
    assert respond.config.generation_kwargs["temperature"] == 0.8
    assert next(iter(respond.eval_docs))["language"] == "de"
    taskgen.write_generation_tasks([], tmp_path)  # the language went: so do its files
    assert not list(tmp_path.glob("*.yaml"))


RECORD = """\
# A second held-out-like benchmark: the likelihood of Belebele's passages.
name: passage_bpb
slug: passagebpb
hub_id: facebook/belebele
configs: flores
splits: [test]
languages: [de, cs]
grouped: false
metric: bits_per_byte
score: harness.evaluate.heldout:score_from_bits_per_byte
floor: -.inf
template: |
  custom_dataset: !function harness.evaluate.benchmarks.load_docs
  output_type: loglikelihood_rolling
  test_split: test
  doc_to_text: ""
  doc_to_target: "{{flores_passage}}"
  metric_list:
    - metric: bits_per_byte
  metadata:
    version: 1.0
"""


@pytest.fixture
def outside_benchmark(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder outside the package holding one benchmark record, registered by variable."""
    from harness.evaluate.registry import ENV_VAR

    folder = tmp_path / "my_benchmarks"
    folder.mkdir()
    (folder / "passage_bpb.yaml").write_text(RECORD, encoding="utf-8")
    monkeypatch.setenv(ENV_VAR, str(folder))
    return folder


def test_an_outside_record_is_offered_where_it_says_and_nowhere_in_the_package(
    outside_benchmark: Path,
) -> None:
    from harness.evaluate.benchmarks import extended_suite, offered
    from harness.languages import LANGUAGES

    names = {b.name for b in offered(LANGUAGES["de"])}
    assert "passage_bpb" in names and "heldout" in names
    assert "passage_bpb" not in {b.name for b in offered(LANGUAGES["es"])}
    assert "passage_bpb" not in {b.name for b in extended_suite(LANGUAGES["de"])}  # no group
    assert not taskgen.stale_files()  # the package's files do not change with it


@pytest.mark.slow
def test_a_benchmark_from_one_outside_file_runs_in_lm_eval_and_is_scored(
    outside_benchmark: Path, tmp_path: Path, tiny_model_dir: Path
) -> None:
    from harness.score.lm_eval_results import read_lm_eval_results

    data = tmp_path / "data" / "passage_bpb" / "deu_Latn"
    data.mkdir(parents=True)
    shutil.copy(FIXTURES / "belebele" / "deu_Latn" / "test.jsonl", data / "test.jsonl")
    tasks = tmp_path / "tasks"
    written = {p.relative_to(tasks).as_posix() for p in taskgen.write_extension_tasks(tasks)}
    assert written == {
        "polyglot_eval/_passagebpb_template_yaml",
        "polyglot_eval/de/polyglot_eval_passagebpb_de.yaml",
        "polyglot_eval/cs/polyglot_eval_passagebpb_cs.yaml",
    }
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-m", "lm_eval", "--model", "hf",
         "--model_args", f"pretrained={tiny_model_dir},dtype=float32",
         "--tasks", "polyglot_eval_passagebpb_de", "--include_path", str(tasks),
         "--metadata", json.dumps({"polyglot_data_dir": str(tmp_path / "data")}),
         "--limit", "3", "--batch_size", "4", "--device", "cpu", "--output_path", str(out)],
        capture_output=True, text=True, env=dict(os.environ), cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    (results_file,) = out.rglob("results_*.json")
    bpb = json.loads(results_file.read_text())["results"]["polyglot_eval_passagebpb_de"]
    bpb = bpb["bits_per_byte,none"]
    (row,) = read_lm_eval_results(results_file.parent, role="base", student_family="tiny")
    assert (row.benchmark, row.language) == ("passage_bpb", "de")
    assert row.score == pytest.approx(1 - bpb / 8) and row.stderr is None
