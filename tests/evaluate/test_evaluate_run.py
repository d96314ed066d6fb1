"""The evaluate stage end to end: real lm-eval runs of tiny real models, read back by score.

A tiny family (base, reference and one student trained for a step) is evaluated on the
offline held-out benchmark and on the paper suite's fixture data; the tests check what
lands on disk, that reruns run only missing or changed tasks, that ``score`` reads the
output with the right identities, and that a credential in model_args reaches no file.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.errors import ConfigError, InputNotFoundError
from harness.evaluate.configs import config_for_family, config_for_student
from harness.evaluate.heldout import score_from_bits_per_byte, task_name
from harness.evaluate.lm_eval_io import redact_values, secret_values
from harness.evaluate.run import MANIFEST, EvalConfig, evaluate_model
from harness.publish.plan import classify
from harness.score import read_extrinsic
from harness.score.lm_eval_results import SIDECAR

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "benchmarks"
TEACHER = "org/tiny-teacher"
FAST = {"limit": 2, "batch_size": 8, "device": "cpu"}
SECRET = "hf_FAKESECRET0123456789"


@pytest.fixture(scope="module")
def students_file(tmp_path_factory, tiny_model_dir: Path, tiny_student_dir: Path) -> Path:
    """A family whose base and reference are two tiny models."""
    path = tmp_path_factory.mktemp("family") / "students.yaml"
    path.write_text(
        f"tiny:\n  base_model: {tiny_student_dir}\n  reference_model: {tiny_model_dir}\n"
        "  mode: full\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def student_run(tmp_path_factory, students_file: Path) -> Path:
    """A real student of the family, trained for one step on a German dataset."""
    from datasets import Dataset

    from harness.naming import dataset_dir
    from harness.schema import DATA_FILE, STRATEGIES, sft_features, sft_row
    from harness.train import TrainConfig, train_student

    root = tmp_path_factory.mktemp("student")
    rows = [
        sft_row(f"Frage {i}?", f"Antwort {i}.", language="de", strategy=STRATEGIES[i % 3],
                teacher=TEACHER, seed_id=f"de-{i}", valid=True, detected_language="de",
                doc_id=i, run_id="test")
        for i in range(6)
    ]  # fmt: skip
    data = dataset_dir(root / "data", TEACHER, "de")
    data.mkdir(parents=True)
    Dataset.from_list(rows, features=sft_features()).to_parquet(str(data / DATA_FILE))
    config = TrainConfig(
        dataset=str(data), student="tiny", students_file=str(students_file),
        out=str(root / "students"), max_steps=1, max_length=64, warmup_steps=0,
        per_device_train_batch_size=2, gradient_accumulation_steps=1, logging_steps=1,
        gradient_checkpointing=False,
    )  # fmt: skip
    return train_student(config).run_dir


def _results_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("results_*.json"))


def test_base_on_heldout_writes_lm_eval_layout_and_resumes_per_task(students_file, tmp_path):
    config = config_for_family(
        "tiny", "base", ["de", "es"], evals_dir=tmp_path, students_file=students_file,
        extra_model_args="dtype=float32", suite="heldout", **FAST,
    )  # fmt: skip
    first = evaluate_model(config, progress=False)
    tasks = [task_name("de"), task_name("es")]
    assert first.out == tmp_path / "base--tiny" and first.results_dir.parent == first.out
    assert (first.tasks_run, first.tasks_skipped) == (tasks, [])
    assert first.n_requests == 4 and first.prompt_tokens > 0 and first.generated_tokens == 0
    (results,) = _results_files(tmp_path)
    for task in tasks:
        (samples,) = first.results_dir.glob(f"samples_{task}_*.jsonl")
        assert len(samples.read_text().splitlines()) == 2
    # The sidecar sits next to the results; out itself only holds the manifest, so
    # publish never mistakes an eval folder for a student run.
    sidecar = json.loads((first.results_dir / SIDECAR).read_text())
    assert (sidecar["role"], sidecar["student_family"], sidecar["tasks"]) == ("base", "tiny", tasks)
    assert sidecar["languages"] == ["de", "es"] and not (first.out / SIDECAR).exists()
    bpb = json.loads(results.read_text())["results"]
    assert {(r.role, r.student_family, r.benchmark, r.language) for r in first.rows} == {
        ("base", "tiny", "heldout", "de"),
        ("base", "tiny", "heldout", "es"),
    }
    for row in first.rows:
        expected = score_from_bits_per_byte(bpb[task_name(row.language)]["bits_per_byte,none"])
        assert row.score == pytest.approx(expected) and row.stderr is None

    again = evaluate_model(config, progress=False)
    assert (again.tasks_run, again.tasks_skipped, again.n_requests) == ([], tasks, 0)
    assert _results_files(tmp_path) == [results] and again.rows == first.rows

    more = evaluate_model(dataclasses.replace(config, languages=["de", "es", "id"]))
    assert (more.tasks_run, more.tasks_skipped) == ([task_name("id")], tasks)
    assert len(_results_files(tmp_path)) == 2 and len(more.rows) == 3

    relimited = evaluate_model(dataclasses.replace(config, languages=["de", "es", "id"], limit=3))
    assert relimited.tasks_run == [*tasks, task_name("id")] and relimited.n_requests == 9
    manifest = json.loads((first.out / MANIFEST).read_text())
    assert {e["fingerprint"]["limit"] for e in manifest["tasks"].values()} == {3}
    rows = read_extrinsic(tmp_path)  # newest result per task: no duplicate rows
    assert sorted(r.language for r in rows) == ["de", "es", "id"]
    assert {r.score for r in rows} == {r.score for r in relimited.rows}

    with pytest.raises(ConfigError, match="holds lm-eval results of"):
        evaluate_model(dataclasses.replace(config, student_family="other"))


def test_paper_suite_on_fixture_data(students_file, tmp_path):
    config = config_for_family(
        "tiny", "reference", "de", evals_dir=tmp_path, students_file=students_file,
        extra_model_args="dtype=float32", data_dir=str(FIXTURES), **FAST,
    )  # fmt: skip
    result = evaluate_model(config, progress=False)
    expected = [
        "polyglot_eval_gmmlu_lite_de",
        "polyglot_eval_mrewardbench_de",
        "polyglot_eval_mgsm_de",
    ]
    assert result.tasks_run == expected
    assert result.generated_tokens > 0  # MGSM generates
    by_benchmark = {r.benchmark: r for r in result.rows}
    assert set(by_benchmark) == {"global_mmlu_lite", "m_rewardbench", "mgsm"}
    assert all(r.role == "reference" and 0 <= r.score <= 1 for r in result.rows)
    assert by_benchmark["global_mmlu_lite"].stderr is not None
    manifest = json.loads((result.out / MANIFEST).read_text())
    assert manifest["tasks"][expected[0]]["fingerprint"]["data_dir"] == str(FIXTURES)


def test_cli_evaluates_student_base_and_reference_for_score(
    students_file, student_run, tmp_path, capsys
):
    evals, scores = tmp_path / "evals", tmp_path / "scores"
    argv = [
        "evaluate", str(student_run), "--base", "tiny", "--reference", "tiny",
        "--languages", "de", "--students-file", str(students_file), "--out", str(evals),
        "--suite", "heldout", "--limit", "2", "--device", "cpu", "--no-progress",
        "--model-args", f"dtype=float32,token={SECRET}",  # HFLM passes token= to from_pretrained
    ]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("1 task(s) run") == 3
    assert sorted(p.name for p in evals.iterdir()) == [
        "base--tiny", "reference--tiny", "student--tiny--org__tiny-teacher--de",
    ]  # fmt: skip
    rows = {r.role: r for r in read_extrinsic(evals)}
    assert set(rows) == {"student", "base", "reference"}
    assert (rows["student"].teacher, rows["student"].target_language) == (TEACHER, "de")
    assert {r.student_family for r in rows.values()} == {"tiny"}
    assert rows["base"].teacher is None and rows["reference"].target_language is None
    for file in evals.rglob("*"):
        if file.is_file():
            assert SECRET not in file.read_text(encoding="utf-8"), file
    for results in _results_files(evals):
        model_args = json.loads(results.read_text())["config"]["model_args"]
        assert "dtype=float32" in model_args and "token" not in model_args

    assert classify(evals) == "evals"  # eval sidecars are not read as student runs

    assert main(["score", "--extrinsic", str(evals), "--out", str(scores)]) == 0
    (scored,) = [json.loads(line) for line in (scores / "scores.jsonl").read_text().splitlines()]
    assert (scored["teacher"], scored["language"]) == (TEACHER, "de")
    assert main(argv) == 0 and capsys.readouterr().out.count("0 task(s) run, 1 already done") == 3


def test_cli_errors_are_one_line(tmp_path, capsys):
    def error(argv: list[str]) -> str:
        assert main(["evaluate", *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("polyglot-harness: error:")
        return err

    assert "'nope'" in error(["--base", "olmo3", "--languages", "de", "--suite", "nope"])
    (tmp_path / "run").mkdir()
    assert SIDECAR in error([str(tmp_path / "run")])
    assert "nothing to evaluate" in error([])
    assert "--languages" in error(["--base", "olmo3"])
    assert "--family" in error(["--role", "base", "--languages", "de"])
    assert "teacher" in error(["--role", "student", "--family", "f", "--languages", "de"])


def _sidecar(run: Path, **meta) -> Path:
    run.mkdir(parents=True)
    base = {"role": "student", "student_family": "fam", "teacher": "t/x", "target_language": "de"}
    (run / SIDECAR).write_text(json.dumps({**base, **meta}))
    return run


def test_student_configs_follow_the_train_sidecar(tmp_path):
    full = config_for_student(_sidecar(tmp_path / "full"), evals_dir=tmp_path / "ev")
    assert full.model_args == f"pretrained={tmp_path / 'full'}"
    assert full.out == str(tmp_path / "ev" / "student--fam--t__x--de")
    assert (full.languages, full.teacher, full.role) == (["de"], "t/x", "student")
    lora = _sidecar(tmp_path / "lora", adapter=True, base_model="org/base", merged_model=None)
    assert config_for_student(lora, extra_model_args="dtype=bfloat16").model_args == (
        f"pretrained=org/base,peft={lora},tokenizer={lora},dtype=bfloat16"
    )
    merged = _sidecar(tmp_path / "merged", adapter=True, merged_model="merged")
    assert config_for_student(merged).model_args == f"pretrained={merged / 'merged'}"
    with pytest.raises(ConfigError, match="teacher"):
        config_for_student(_sidecar(tmp_path / "bad", teacher=None))
    with pytest.raises(InputNotFoundError, match=SIDECAR):
        config_for_student(tmp_path)
    with pytest.raises(ConfigError, match="reference_model"):
        config_for_family("org/adhoc-model", "reference", "de")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"role": "teacher"}, "field 'role'"),
        ({"languages": ["xx"]}, "field 'languages'"),
        ({"languages": []}, "field 'languages' is empty"),
        ({"teacher": "t"}, "'teacher' is for students only"),
        ({"role": "student"}, "a student needs field"),
        ({"suite": "mgsm,nope"}, "'nope'"),
        ({"languages": ["cs"], "suite": "mgsm"}, "language 'cs' has no benchmark"),
        ({"languages": ["fr"]}, "language 'fr' has no benchmark"),
        ({"limit": 0}, "field 'limit'"),
        ({"data_dir": "/no/such/dir"}, "field 'data_dir'"),
    ],
)
def test_config_errors_name_the_field(fields: dict, message: str) -> None:
    base = {"out": "o", "role": "base", "student_family": "f", "languages": ["de"]}
    with pytest.raises(ConfigError, match=message):
        EvalConfig(**{**base, **fields})


def test_secrets_are_found_and_redacted_anywhere() -> None:
    args = "model=m,base_url=https://bob:pw123@api.example/v1,api_key=sk-XYZ,max_tokens=5"
    assert secret_values(args) == ["bob:pw123", "sk-XYZ"]
    obj = {"a": ["call sk-XYZ at https://bob:pw123@api.example"], "n": 5, "t": ("sk-XYZ",)}
    assert redact_values(obj, secret_values(args)) == {
        "a": ["call <redacted> at https://<redacted>@api.example"],
        "n": 5,
        "t": ("<redacted>",),
    }
