"""The scorer ranks rows of one protocol only, and every score row names it.

Inputs are real files laid out as the stages write them (an evaluate output folder with
its manifest, lm-eval results and sidecar; an intrinsic ``summary.jsonl``), written by
hand so each protocol record is exactly the one under test.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ConfigError
from harness.evaluate.run import MANIFEST
from harness.protocol import resolve
from harness.score.inputs import read_extrinsic, read_intrinsic
from harness.score.lm_eval_results import SIDECAR
from harness.score.pgscore import read_scores, score_run

PAPER_DEMO = resolve("paper").record({"documents_per_strategy": 2, "max_gen_toks": 128})
CORRECTED = resolve("corrected").record()
TEACHERS = ("org/t1", "org/t2")
TASK = "polyglot_eval_mgsm_de"


def write_evaluation(
    root: Path,
    name: str,
    score: float,
    *,
    role: str,
    teacher: str | None = None,
    protocol: Any = None,
    sidecar_protocol: Any = None,
) -> Path:
    """One model's evaluate output: <name>/MANIFEST and <name>/model/{results, sidecar}."""
    out = root / name
    model = out / "model"
    model.mkdir(parents=True)
    results = {
        "results": {TASK: {"acc,none": score, "acc_stderr,none": 0.01}},
        "config": {"model": "hf", "model_args": "pretrained=x,dtype=float32"},
    }
    (model / "results_2025-06-01T10-00-00.json").write_text(json.dumps(results))
    identity = {
        "role": role,
        "student_family": "fam",
        "teacher": teacher,
        "target_language": "de" if teacher else None,
    }
    sidecar = {**identity, "suite": "paper", "tasks": [TASK]}
    if sidecar_protocol is not None:
        sidecar["protocol"] = sidecar_protocol
    (model / SIDECAR).write_text(json.dumps(sidecar))
    manifest = {
        "identity": identity,
        "results_dir": "model",
        "tasks": {TASK: {"fingerprint": {}, "results_file": "results_2025-06-01T10-00-00.json"}},
    }
    if protocol is not None:
        manifest["protocol"] = protocol
    (out / MANIFEST).write_text(json.dumps(manifest))
    return out


def write_run(tmp_path: Path, *, evaluated: Any, measured: Any) -> tuple[Path, Path]:
    """evals/ (base, reference, two students) under ``evaluated``; metrics/summary.jsonl
    under ``measured``. Returns (evals, metrics)."""
    evals = tmp_path / "evals"
    write_evaluation(evals, "base--fam", 0.40, role="base", protocol=evaluated)
    write_evaluation(evals, "reference--fam", 0.60, role="reference", protocol=evaluated)
    for teacher, score in zip(TEACHERS, (0.50, 0.45), strict=True):
        name = f"student--fam--{teacher.replace('/', '__')}--de"
        write_evaluation(evals, name, score, role="student", teacher=teacher, protocol=evaluated)
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    lines = []
    for i, teacher in enumerate(TEACHERS):
        row = {"teacher": teacher, "language": "de", "prompt_diversity": 0.3 + i / 10,
               "response_diversity": 0.5 - i / 10, "rubric_score": 3.0 + i,
               "perplexity": 9.0 + 10 * i, "n_valid": 12}  # fmt: skip
        if measured is not None:
            row["protocol"] = measured
        lines.append(json.dumps(row) + "\n")
    (metrics / "summary.jsonl").write_text("".join(lines))
    return evals, metrics


def score_cli(*argv: str) -> int:
    from harness.cli import score

    parser = argparse.ArgumentParser()
    score.add_parser(parser.add_subparsers())
    args = parser.parse_args(["score", *argv])
    return args.run(args)


def test_paper_summary_and_corrected_evaluation_are_refused_naming_both(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    evals, metrics = write_run(tmp_path, evaluated=CORRECTED, measured=PAPER_DEMO)
    with pytest.raises(ConfigError) as err:
        score_run(read_extrinsic(evals), read_intrinsic(metrics))
    message = str(err.value)
    assert "'corrected'" in message and "'paper'" in message
    assert str(metrics / "summary.jsonl") in message
    assert "results_2025-06-01T10-00-00.json" in message  # an evaluated row's source
    out = tmp_path / "scores"
    assert score_cli("--extrinsic", str(evals), "--intrinsic", str(metrics), "--out", str(out)) == 2
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and "different protocols" in stderr
    assert "summary.jsonl" in stderr and "results_2025" in stderr
    assert not (out / "scores.jsonl").exists()


def test_rows_of_one_protocol_score_and_every_row_names_it(tmp_path: Path) -> None:
    # The manifest holds the bare name, the summary the full record: same protocol.
    evals, metrics = write_run(tmp_path, evaluated="paper", measured=PAPER_DEMO)
    out = tmp_path / "scores"
    assert score_cli("--extrinsic", str(evals), "--intrinsic", str(metrics), "--out", str(out)) == 0
    lines = (out / "scores.jsonl").read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(line)["protocol"] == "paper" for line in lines)
    assert {r.protocol for r in read_scores(out)} == {"paper"}
    assert json.loads((out / "robustness.json").read_text())["protocol"] == "paper"
    # PGR is still the plain formula: (0.50 - 0.40) / (0.60 - 0.40).
    t1 = next(r for r in read_scores(out) if r.teacher == "org/t1")
    assert t1.pgr == pytest.approx(0.5)
    assert score_cli(
        "--extrinsic", str(evals), "--intrinsic", str(metrics), "--out", str(out),
        "--protocol", "paper",
    ) == 0  # fmt: skip


def test_a_partly_corrected_protocol_matches_by_canonical_name(tmp_path: Path) -> None:
    """A name written in another order is the same protocol as the record's name."""
    record = resolve("paper+per_row_fluency+greedy_mgsm").record()
    evals, metrics = write_run(
        tmp_path, evaluated=record, measured="paper+greedy_mgsm+per_row_fluency"
    )
    rows = score_run(read_extrinsic(evals), read_intrinsic(metrics))
    assert {r.protocol for r in rows} == {"paper+greedy_mgsm+per_row_fluency"}


def test_inputs_without_a_protocol_beside_recorded_ones_are_refused(tmp_path: Path) -> None:
    evals, metrics = write_run(tmp_path, evaluated=None, measured=PAPER_DEMO)
    with pytest.raises(ConfigError, match=r"'unrecorded'.*'paper'|'paper'.*'unrecorded'"):
        score_run(read_extrinsic(evals), read_intrinsic(metrics))


def test_all_unrecorded_inputs_score_with_a_null_protocol(tmp_path: Path) -> None:
    """Inputs older than protocols (the paper's published rows) still score together."""
    evals, metrics = write_run(tmp_path, evaluated=None, measured=None)
    out = tmp_path / "scores"
    assert score_cli("--extrinsic", str(evals), "--intrinsic", str(metrics), "--out", str(out)) == 0
    assert all(json.loads(line)["protocol"] is None for line in (out / "scores.jsonl").open())
    # A scores.jsonl written before rows named a protocol reads back as unrecorded.
    old = tmp_path / "old" / "scores.jsonl"
    old.parent.mkdir()
    rows = [json.loads(line) for line in (out / "scores.jsonl").open()]
    old.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "protocol"}) + "\n"
                           for r in rows))  # fmt: skip
    assert [r.protocol for r in read_scores(old)] == [None, None]


def test_published_reference_rows_score_as_unrecorded() -> None:
    import importlib.util

    path = Path(__file__).with_name("test_paper_reproduction.py")
    spec = importlib.util.spec_from_file_location("_paper_reproduction", path)
    paper = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(paper)
    extrinsic, z, published = paper.paper_inputs("gemma3-4b")
    rows = score_run(extrinsic, z_scores=z)
    assert len(rows) == len(published) == 30
    assert {r.protocol for r in rows} == {None}


def test_score_protocol_flag_refuses_inputs_of_another_protocol(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    evals, metrics = write_run(tmp_path, evaluated="paper", measured="paper")
    base = ["--extrinsic", str(evals), "--intrinsic", str(metrics), "--out", str(tmp_path / "s")]
    assert score_cli(*base, "--protocol", "corrected") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'paper'" in err and "not 'corrected'" in err
    assert score_cli(*base, "--protocol", "paper+greedy_msgm") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean greedy_mgsm" in err


def test_manifest_and_sidecar_that_disagree_are_refused(tmp_path: Path) -> None:
    evals = tmp_path / "evals"
    folder = write_evaluation(
        evals, "base--fam", 0.4, role="base", protocol="paper", sidecar_protocol=CORRECTED
    )
    with pytest.raises(ConfigError) as err:
        read_extrinsic(evals)
    assert str(folder / MANIFEST) in str(err.value)
    assert str(folder / "model" / SIDECAR) in str(err.value)
    # Only one of them recording a protocol is no conflict.
    shutil.rmtree(evals)
    write_evaluation(evals, "base--fam", 0.4, role="base", sidecar_protocol=CORRECTED)
    assert {r.protocol for r in read_extrinsic(evals)} == {"corrected"}


def test_long_format_rows_of_two_protocols_name_both_lines(tmp_path: Path) -> None:
    rows = [
        {"role": "base", "student_family": "f", "benchmark": "mgsm", "language": "de",
         "score": 0.4, "protocol": "paper"},
        {"role": "reference", "student_family": "f", "benchmark": "mgsm", "language": "de",
         "score": 0.6, "protocol": "paper"},
        {"role": "student", "student_family": "f", "benchmark": "mgsm", "language": "de",
         "score": 0.5, "teacher": "t", "target_language": "de", "protocol": CORRECTED},
    ]  # fmt: skip
    path = tmp_path / "evals.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(
        ConfigError, match=r"evals\.jsonl:1 is 'paper', .*evals\.jsonl:3 is 'corrected'"
    ):
        score_run(read_extrinsic(path))


def test_an_unknown_protocol_in_a_summary_is_one_line_naming_it(tmp_path: Path) -> None:
    _, metrics = write_run(tmp_path, evaluated=None, measured="papr")
    with pytest.raises(ConfigError) as err:
        read_intrinsic(metrics)
    assert str(err.value).startswith(f"{metrics / 'summary.jsonl'}:1")
    assert "unknown protocol 'papr'" in str(err.value) and "\n" not in str(err.value)
