"""The grid on the local executor: real jobs, a killed driver, a failing job, a new teacher."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import records, scores_of, small_grid, spec_of, wait_for

from harness.errors import ConfigError, HarnessError
from harness.grid.driver import format_dry_run, format_status, grid_status, run_grid
from harness.grid.graph import compile_grid

SMOL, BAD = "SmolLM2-135M-Instruct", "SmolLM2-135M-Instruct-T2"  # BAD: sampled at T 2.0


# -- the grid file --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lanugages": ["de"]}, "did you mean 'languages'"),
        ({"generation": {"limt": 2}}, "did you mean 'limit'"),
        ({"executor": "slrum"}, "did you mean 'slurm'"),
        ({"teachers": ["gemma-3-4"]}, "did you mean"),
        ({"languages": ["xx"]}, "unknown language code 'xx'"),
        ({"retries": -1}, "'retries' must be"),
        ({"resources": {"train": {"gpu": 1}}}, "did you mean 'gpus'"),
        ({"students": ["olmo"]}, "did you mean 'olmo3'"),
        ({"generation": {"limit": 0}}, "limit must be >= 1"),
        ({"train": {"loss_mask": "nope"}}, "loss_mask"),
        ({"train": {"num_train_epochs": -1}}, "num_train_epochs"),
        ({"resources": {"train": {"mem_gb": "lots"}}}, "mem_gb"),
        ({"evaluation": {"suite": "papr"}}, "papr"),
        ({"teachers": "gemma-3-4b"}, "non-empty list"),
    ],
)
def test_bad_grid_files_fail_naming_the_key(tmp_path: Path, change, message) -> None:
    with pytest.raises(HarnessError, match=message):
        spec_of(small_grid(tmp_path, **change))


def test_a_grid_output_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("x")
    with pytest.raises(ConfigError, match="not a folder"):
        run_grid(spec_of(small_grid(tmp_path / "taken")))


def test_secrets_in_a_grid_file_are_refused(tmp_path: Path) -> None:
    data = small_grid(tmp_path)
    data["teachers"][0]["model_args"]["api_key"] = "sk-123"
    with pytest.raises(ConfigError, match="api_key"):
        spec_of(data)


def test_registry_teachers_and_families_compile(tmp_path: Path) -> None:
    spec = spec_of(small_grid(tmp_path, teachers=["gemma-3-4b", "gpt-4o-mini"],
                              students=["olmo3", "qwen3-8b"], languages=["de", "ja"],
                              evaluation={"suite": "paper"}))  # fmt: skip
    jobs = compile_grid(spec)
    stages = [j.stage for j in jobs]
    # 2 teachers x 2 languages; 2 families: 1 shared base evaluation each, 1 reference
    # evaluation per language, a student per teacher x language x family.
    assert stages.count("generate") == 4 and stages.count("train") == 8
    assert stages.count("evaluate") == 2 + 2 * 2 + 8
    keys = [j.key for j in jobs]
    assert len(keys) == len(set(keys))
    position = {k: i for i, k in enumerate(keys)}
    for job in jobs:  # every job after the jobs it needs
        assert all(position[d] < position[job.key] for d in (*job.deps, *job.soft_deps))
    gemma = next(j for j in jobs if j.key == "generate/gemma-3-4b/de")
    assert (
        gemma.args["model"] == "hf"
        and gemma.args["model_args"]["pretrained"] == "google/gemma-3-4b-it"
    )


def test_fingerprints_follow_what_a_job_computes(tmp_path: Path) -> None:
    base = {j.key: j.fingerprint for j in compile_grid(spec_of(small_grid(tmp_path)))}
    more = small_grid(tmp_path)
    more["teachers"].append({"name": "extra", "model": "hf",
                             "model_args": {"pretrained": "embedded:tiny-llama:3"}})  # fmt: skip
    added = {j.key: j.fingerprint for j in compile_grid(spec_of(more))}
    changed = {k for k in base if base[k] != added[k]}
    assert changed == {"score", "leaderboard"}  # a new teacher re-scores, nothing else
    assert {k for k in added if k not in base} == {
        "generate/extra/de", "collect/extra/de", "intrinsic/extra/de",
        "train/extra/de/tiny-demo", "evaluate/student/extra/de/tiny-demo",
    }  # fmt: skip
    longer = small_grid(tmp_path)
    longer["generation"]["max_gen_toks"] = 99
    other = {j.key: j.fingerprint for j in compile_grid(spec_of(longer))}
    changed = {k for k in base if base[k] != other[k]}
    assert "generate/SmolLM2-135M-Instruct/de" in changed
    assert "evaluate/student/SmolLM2-135M-Instruct/de/tiny-demo" in changed
    assert "evaluate/base/tiny-demo" not in changed  # shared work stays done
    moved = {j.key: j.fingerprint for j in compile_grid(spec_of(small_grid(tmp_path / "x")))}
    assert moved == base  # a grid folder can be moved or copied


# -- running it ------------------------------------------------------------------------------
def test_grid_runs_every_stage_and_records_costs(finished_grid: Path) -> None:
    scores = scores_of(finished_grid)
    assert set(scores) == {(SMOL, "de", "tiny-demo"), (BAD, "de", "tiny-demo")}
    bad, smol = scores[(BAD, "de", "tiny-demo")], scores[(SMOL, "de", "tiny-demo")]
    # A demo that could fail: both teachers wrote valid rows (so both students trained, and
    # nothing falls back to the base or the worst value), and the measurements say which is
    # better. The paper-sampling teacher ranks first on PG-Score and the bootstrap keeps the
    # order in >= 95 % of its replicates (not a tie); diversity, fluency, PGR could each
    # reverse it.
    for teacher in (SMOL, BAD):
        summary = json.loads(
            (finished_grid / "metrics" / teacher / "de" / "summary.jsonl").read_text()
        )
        assert summary["n_valid"] > 0, teacher
    assert smol["pg_score"] > bad["pg_score"]
    ranks = json.loads((finished_grid / "scores" / "ranks.json").read_text())
    pg = ranks["values"]["pg_score"]["tiny-demo"]
    assert pg["above"][SMOL][BAD] >= 0.95 and not pg["tied"][SMOL], pg["above"]
    intervals = [
        json.loads(x)
        for x in (finished_grid / "scores" / "intervals.jsonl").read_text().splitlines()
    ]
    assert {(r["teacher"], r["language"]) for r in intervals} == {(SMOL, "de"), (BAD, "de")}
    for teacher in (SMOL, BAD):
        summary = json.loads(
            (finished_grid / "metrics" / teacher / "de" / "summary.jsonl").read_text()
        )
        run = finished_grid / "students" / f"tiny-demo--{teacher}--de"
        row = scores[(teacher, "de", "tiny-demo")]
        if summary["n_valid"] == 0:  # nothing to train on: the student *is* the base
            assert (run / "untrained.json").is_file() and row["pgr"] == 0.0
            assert row["student_score"] == row["base_score"]
        else:
            assert (run / "polyglot_run.json").is_file() and not (run / "untrained.json").exists()
    jobs = compile_grid(spec_of(small_grid(finished_grid)))
    costs = records(finished_grid, "costs.jsonl")
    assert sorted(c["key"] for c in costs) == sorted(j.key for j in jobs)
    for cost in costs:
        assert cost["wall_s"] > 0 and cost["device_kind"] == "cpu" and cost["gpu_s"] == 0
        assert cost["peak_rss_mb"] > 10
    gen = next(c for c in costs if c["key"] == f"generate/{SMOL}/de")
    assert gen["prompt_tokens"] > gen["n_requests"] > 0 and gen["generated_tokens"] > 0
    board = (finished_grid / "scores" / "leaderboard.md").read_text()
    assert "GPU-hours" in board and SMOL in board and BAD in board
    # lm-eval per-sample outputs are kept for every evaluation (intervals need them)
    assert list((finished_grid / "evals").rglob("samples_polyglot_eval_heldout_de_*.jsonl"))


def test_a_finished_grid_reruns_nothing(finished_grid: Path) -> None:
    spec = spec_of(small_grid(finished_grid))
    before = len(records(finished_grid))
    report = run_grid(spec, poll_interval=0.1)
    assert report.done == [] and len(report.skipped_done) == len(compile_grid(spec))
    assert len(records(finished_grid)) == before
    assert all(s.state == "done" for s in grid_status(spec))
    assert "est. GPU-h" in format_dry_run(spec)


def test_killed_driver_resumes_without_recomputing(finished_grid: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    grid_file = tmp_path / "grid.yaml"
    grid_file.write_text(yaml.safe_dump(small_grid(out)), encoding="utf-8")
    driver = subprocess.Popen(
        [sys.executable, "-m", "harness.cli.main", "run", str(grid_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(lambda: sum(r["status"] == "done" for r in records(out)) >= 4, 300, "4 jobs")
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    killed_at = time.time()
    done_before = {r["key"] for r in records(out) if r["status"] == "done"}
    spec = spec_of(small_grid(out))
    status = format_status(grid_status(spec))
    assert "done" in status and "pending" in status
    report = run_grid(spec, poll_interval=0.2)
    assert report.ok, (report.failed, report.blocked)
    restarted = {
        r["key"] for r in records(out) if r["status"] == "started" and r["time"] > killed_at
    }
    assert not restarted & done_before, restarted & done_before
    # Same numbers as the uninterrupted run.
    mine, theirs = scores_of(out), scores_of(finished_grid)
    assert mine.keys() == theirs.keys()
    for cell, row in mine.items():
        for field in (
            "student_score",
            "base_score",
            "reference_score",
            "pgr",
            "z_score",
            "pg_score",
        ):
            assert row[field] == pytest.approx(theirs[cell][field], abs=1e-9), (cell, field)


def test_new_teacher_runs_only_its_jobs_and_a_failure_is_isolated(
    finished_grid: Path, tmp_path: Path
) -> None:
    out = tmp_path / "grid"
    shutil.copytree(finished_grid, out, symlinks=True)
    before = len(records(out))
    data = small_grid(out)
    data["teachers"] += [
        {"name": "another-tiny", "model": "hf", "model_args": {"pretrained": "embedded:tiny-llama:11"}},
        {"name": "broken", "model": "hf", "model_args": {"pretrained": str(tmp_path / "no-such-model")}},
    ]  # fmt: skip
    report = run_grid(spec_of(data), poll_interval=0.2)
    new = records(out)[before:]
    started = {r["key"] for r in new if r["status"] == "started"}
    allowed = {"score", "leaderboard", "train/another-tiny/de/tiny-demo",
               "evaluate/student/another-tiny/de/tiny-demo"} | {
        f"{stage}/{t}/de" for stage in ("generate", "collect", "intrinsic")
        for t in ("another-tiny", "broken")
    }  # fmt: skip
    assert started <= allowed, started - allowed
    # The broken teacher's generation was tried twice (retries: 1), then reported with its log.
    attempts = [r for r in new if r["key"] == "generate/broken/de" and r["status"] == "failed"]
    assert len(attempts) == 2
    log = Path(report.failed["generate/broken/de"])
    assert log.is_file() and "no-such-model" in log.read_text()
    assert report.blocked["train/broken/de/tiny-demo"] == "generate/broken/de"
    # The others are scored.
    assert {t for t, _, _ in scores_of(out)} == {SMOL, BAD, "another-tiny"}
    assert os.path.getsize(out / "scores" / "grid_report.json") > 0


def test_a_teacher_without_valid_rows_has_its_base_as_student(tmp_path: Path) -> None:
    from datasets import Dataset

    from harness.grid.finish import _as_students
    from harness.grid.stages import UNTRAINED, evaluate, train
    from harness.schema import DATA_FILE, sft_features, sft_row
    from harness.score import ExtrinsicRow

    data = tmp_path / "data" / "nobody" / "de"
    data.mkdir(parents=True)
    rows = [sft_row("Frage", "", language="de", strategy="respond", teacher="nobody",
                    seed_id=f"s{i}", doc_id=i, run_id="r", valid=False,
                    invalid_reason="empty") for i in range(3)]  # fmt: skip
    Dataset.from_list(rows, features=sft_features()).to_parquet(str(data / DATA_FILE))
    run = tmp_path / "students" / "tiny-demo--nobody--de"
    family = {"base_model": "embedded:tiny-llama:1", "reference_model": "x", "mode": "full",
              "chat_template": None}  # fmt: skip
    result = train({"dataset": str(data), "family": "tiny-demo", "out": str(tmp_path / "students"),
                    "family_def": family, "train": {"max_steps": 1}, "run_dir": str(run)})  # fmt: skip
    assert result == {"trained": False}
    assert json.loads((run / UNTRAINED).read_text())["dataset"] == str(data)
    out = tmp_path / "evals" / "student"
    evaluate({"role": "student", "family": "tiny-demo", "teacher": "nobody", "languages": ["de"],
              "out": str(out), "student_run": str(run), "evaluation": {"suite": "heldout"}})  # fmt: skip
    untrained = json.loads((out / UNTRAINED).read_text())
    base = ExtrinsicRow(role="base", student_family="tiny-demo", benchmark="heldout",
                        language="de", score=0.3)  # fmt: skip
    other = ExtrinsicRow(role="base", student_family="tiny-demo", benchmark="heldout",
                         language="es", score=0.5)  # fmt: skip
    [student] = _as_students([base, other], [untrained])
    assert (student.role, student.teacher, student.target_language, student.score) == (
        "student", "nobody", "de", 0.3)  # fmt: skip


def test_dry_run_prices_a_new_grid_from_recorded_costs(
    finished_grid: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.cli.main import main

    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump(small_grid(tmp_path / "new", languages=["de", "es"])))
    assert main(["run", str(grid), "--dry-run"]) == 0

    def table(text: str) -> str:
        return "\n".join(x for x in text.splitlines() if not x.startswith(("estimates", "grid")))

    alone = table(capsys.readouterr().out)
    assert "unknown" in alone  # nothing recorded in a new folder
    assert main(["run", str(grid), "--dry-run", "--costs-from", str(finished_grid)]) == 0
    priced = table(capsys.readouterr().out)
    assert "unknown" not in priced
    line = next(x for x in priced.splitlines() if x.startswith("generate "))
    _, jobs, done, todo, gpus, _, wall_h = line.split()
    assert (jobs, done, todo, gpus) == ("4", "0", "4", "0") and float(wall_h) > 0
    assert main(["run", str(grid), "--dry-run", "--costs-from", str(tmp_path)]) == 2


def test_a_grid_publishes_its_results_to_the_hub(
    finished_grid: Path, tmp_path: Path, hub_api, hub_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uuid

    from harness.publish.plan import RepoNames

    out = tmp_path / "grid"
    shutil.copytree(finished_grid, out, symlinks=True)
    before = len(records(out))
    monkeypatch.setenv("HF_TOKEN", hub_token)  # the jobs inherit it; the grid file never holds it
    org = f"grid-{uuid.uuid4().hex[:8]}"
    report = run_grid(spec_of(small_grid(out, publish={"org": org})), poll_interval=0.2)
    assert report.ok, (report.failed, report.blocked)
    assert {r["key"] for r in records(out)[before:] if r["status"] == "started"} == {"publish"}
    names = RepoNames(org)
    board = hub_api.hf_hub_download(names.leaderboard, "leaderboard.jsonl", repo_type="dataset")
    rows = [json.loads(x) for x in Path(board).read_text().splitlines()]
    assert {r["teacher"] for r in rows} == {SMOL, BAD}
    assert all(r["cpu_hours"] > 0 and r["gpu_hours"] == 0 for r in rows)  # measured on CPU
    # Students are published; seed-trained references are not student models.
    assert hub_api.repo_exists(names.student(f"tiny-demo--{SMOL}--de"))
    assert not hub_api.repo_exists(names.student("tiny-demo--gold-seeds--de"))
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".log", ".md", ".yaml"):
            assert hub_token not in path.read_text(errors="replace"), path


def test_changed_generation_settings_remake_the_data_not_merge_it(
    finished_grid: Path, tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    out = tmp_path / "grid"
    shutil.copytree(finished_grid, out, symlinks=True)
    data = out / "data" / SMOL / "de" / "data.parquet"
    assert pq.read_metadata(data).num_rows == 6  # 2 documents x 3 strategies
    fewer = small_grid(out)
    fewer["generation"]["n_docs"] = 1
    report = run_grid(spec_of(fewer), poll_interval=0.2)
    assert report.ok, (report.failed, report.blocked)
    # Old rows made with 2 documents per task must not survive next to the new ones.
    assert pq.read_metadata(data).num_rows == 3
    assert scores_of(out).keys() == scores_of(finished_grid).keys()
