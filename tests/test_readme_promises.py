"""The README's per-stage table of reruns and overwrites: the promises no other test checks.

Each test runs the real command through :func:`harness.cli.main.main` (tiny models where a
model is needed) and checks what a rerun skips, recomputes and replaces on disk. The
README's table names these tests beside the ones in each stage's own test module.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest
import yaml

from harness.cli.main import main


def _link(path: Path, keep: Path) -> Path:
    """A second name for ``path``'s current file: ``path`` names another inode afterwards
    only if it was replaced by a rename, never if rewritten in place (a kill can tear that)."""
    os.link(path, keep)
    return keep


# -- seeds ----------------------------------------------------------------------------------
AYA_DE = [
    ("Was ist die Hauptstadt von Bayern?", "München ist die Hauptstadt."),
    ("Wie viele Bundesländer hat Deutschland?", "Deutschland hat sechzehn Bundesländer."),
    ("Welcher Fluss fließt durch Köln?", "Der Rhein fließt durch Köln."),
    ("Wer schrieb den Roman Der Zauberberg?", "Thomas Mann schrieb ihn."),
    ("Wie heißt der höchste Berg Deutschlands?", "Die Zugspitze ist der höchste Berg."),
]


def test_seeds_rerun_writes_the_same_bytes_by_rename_and_leaves_other_files(
    tmp_path: Path,
) -> None:
    import datasets

    source = tmp_path / "aya"
    source.mkdir()
    rows = [
        {"inputs": p, "targets": r, "language": "German", "language_code": "deu",
         "annotation_type": "original-annotations", "user_id": str(i)}
        for i, (p, r) in enumerate(AYA_DE)
    ]  # fmt: skip
    datasets.Dataset.from_list(rows).to_parquet(str(source / "train-00000-of-00001.parquet"))
    out = tmp_path / "seeds"
    out.mkdir()
    (out / "es.jsonl").write_text("the user's own Spanish seeds\n", encoding="utf-8")
    argv = ["seeds", "--languages", "de", "--sources", "aya", "--sample-size", "3",
            "--source-path", f"aya={source}", "--out", str(out), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    first = (out / "de.jsonl").read_bytes()
    assert len(first.splitlines()) == 3
    keep = _link(out / "de.jsonl", tmp_path / "de.keep")
    assert main(argv) == 0
    assert (out / "de.jsonl").read_bytes() == first  # deterministic sampling
    assert os.stat(keep).st_ino != os.stat(out / "de.jsonl").st_ino  # replaced by a rename
    assert (out / "es.jsonl").read_text(encoding="utf-8") == "the user's own Spanish seeds\n"
    assert sorted(p.name for p in out.iterdir()) == ["de.jsonl", "es.jsonl"]  # no temp left


# -- generate -------------------------------------------------------------------------------
def test_generate_rerun_skips_and_changed_settings_start_afresh_keeping_earlier_files(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    out = tmp_path / "runs"
    argv = ["generate", "--model-args", f"pretrained={tiny_model_dir},dtype=float32",
            "--languages", "de", "--strategies", "respond", "--limit", "1",
            "--max-gen-toks", "4", "--batch-size", "1", "--device", "cpu",
            "--out", str(out)]  # fmt: skip

    def outputs() -> set[Path]:
        return {*out.rglob("samples_*.jsonl"), *out.rglob("results_*.json")}

    assert main(argv) == 0
    first = outputs()
    assert len(first) == 2
    first_bytes = {p: p.read_bytes() for p in first}
    assert main(argv) == 0
    assert outputs() == first  # same settings: every chunk is done, nothing runs
    assert main([*argv, "--seed", "99"]) == 0  # changed settings: generated again
    after = outputs()
    assert first < after and len(after) == 4
    assert all(p.read_bytes() == b for p, b in first_bytes.items())  # earlier files untouched


# -- intrinsic ------------------------------------------------------------------------------
def _dataset(folder: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from harness.schema import DATA_FILE, sft_row

    pairs = [
        ("Wie viele Äpfel bleiben übrig, wenn ich 5 habe und 2 esse?", "Es bleiben drei übrig."),
        ("Was ist die Hauptstadt von Deutschland?", "Berlin ist die Hauptstadt Deutschlands."),
        ("Erkläre kurz, was Photosynthese ist.", "Pflanzen wandeln Licht in Energie um."),
    ]
    rows = [
        dict(sft_row(p, r, language="de", strategy="generate", teacher="org/t",
                     seed_id=f"de-{i}", valid=True, invalid_reason=None,
                     detected_language="de", doc_id=i, temperature=0.8, top_p=0.9,
                     max_gen_toks=64))
        for i, (p, r) in enumerate(pairs)
    ]  # fmt: skip
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / DATA_FILE)


def test_intrinsic_recomputes_only_the_metric_whose_parameters_changed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _dataset(tmp_path / "data" / "org__t" / "de")
    bench = tmp_path / "bench" / "mgsm" / "de" / "test.jsonl"
    bench.parent.mkdir(parents=True)
    copied = "Wie viele Äpfel bleiben übrig, wenn ich 5 habe und 2 esse? Es bleiben drei übrig."
    bench.write_text(json.dumps({"question": copied}, ensure_ascii=False) + "\n")  # 15 words
    out = tmp_path / "metrics"
    argv = ["intrinsic", str(tmp_path / "data"), "--out", str(out),
            "--metrics", "validity,lexical,contamination",
            "--benchmarks-dir", str(tmp_path / "bench"), "--no-progress"]  # fmt: skip
    caplog.set_level(logging.INFO, logger="harness.intrinsic.run")
    assert main(argv) == 0
    caches = out / "org__t" / "de"
    before = {m: (caches / f"{m}.json").stat().st_mtime_ns for m in ("validity", "lexical")}
    rate = json.loads((out / "summary.jsonl").read_text().splitlines()[0])["contamination_rate"]
    assert rate == pytest.approx(1 / 3)
    # contamination's own parameter (the benchmark files' content) changes: it alone reruns
    bench.write_text(json.dumps({"question": "Ein ganz anderer Text ohne Überschneidung."}) + "\n")
    caplog.clear()
    assert main(argv) == 0
    computed = [r.getMessage() for r in caplog.records if r.getMessage().startswith("computed ")]
    assert computed == ["computed contamination for org__t/de"]
    assert {m: (caches / f"{m}.json").stat().st_mtime_ns for m in before} == before
    summary = json.loads((out / "summary.jsonl").read_text().splitlines()[0])
    assert summary["contamination_rate"] == 0.0


# -- score ----------------------------------------------------------------------------------
def _score_inputs(folder: Path, teachers: dict[str, tuple[float, float]]) -> tuple[Path, Path]:
    """Extrinsic and intrinsic JSONL for ``{teacher: (student score, diversity)}`` in de."""
    folder.mkdir(parents=True, exist_ok=True)
    common = {"student_family": "fam", "benchmark": "mgsm", "language": "de"}
    ext = [
        {**common, "role": "base", "score": 0.40},
        {**common, "role": "reference", "score": 0.60},
    ]
    intr = []
    for i, (teacher, (score, diversity)) in enumerate(teachers.items()):
        ext.append({**common, "role": "student", "score": score, "teacher": teacher,
                    "target_language": "de"})  # fmt: skip
        intr.append({"teacher": teacher, "language": "de", "prompt_diversity": diversity,
                     "response_diversity": diversity + 0.1, "rubric_score": 3.0 + i / 2,
                     "perplexity": 10.0 + 3 * i})  # fmt: skip
    paths = folder / "evals.jsonl", folder / "metrics.jsonl"
    for path, rows in zip(paths, (ext, intr), strict=True):
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return paths


def _scores(folder: Path) -> dict[str, dict]:
    rows = [json.loads(x) for x in (folder / "scores.jsonl").read_text().splitlines()]
    return {r["teacher"]: r for r in rows}


def test_adding_a_teacher_changes_every_z_and_pg_but_no_pgr(tmp_path: Path) -> None:
    three = {"t1": (0.45, 0.3), "t2": (0.50, 0.5), "t3": (0.55, 0.4)}
    four = {**three, "t4": (0.42, 0.9)}
    for name, teachers in (("three", three), ("four", four)):
        evals, metrics = _score_inputs(tmp_path / name, teachers)
        out = tmp_path / name / "scores"
        argv = ["score", "--extrinsic", str(evals), "--intrinsic", str(metrics), "--out", str(out)]
        assert main(argv) == 0
    before, after = _scores(tmp_path / "three" / "scores"), _scores(tmp_path / "four" / "scores")
    for teacher in three:
        assert after[teacher]["pgr"] == pytest.approx(before[teacher]["pgr"])
        assert after[teacher]["headroom_gain"] == pytest.approx(before[teacher]["headroom_gain"])
        assert after[teacher]["z_score"] != pytest.approx(before[teacher]["z_score"])
        assert after[teacher]["pg_score"] != pytest.approx(before[teacher]["pg_score"])


def test_score_rerun_on_the_same_inputs_writes_the_same_bytes(tmp_path: Path) -> None:
    evals, metrics = _score_inputs(tmp_path, {"t1": (0.45, 0.3), "t2": (0.5, 0.5)})
    out = tmp_path / "scores"
    argv = ["score", "--extrinsic", str(evals), "--intrinsic", str(metrics), "--out", str(out)]
    assert main(argv) == 0
    first = {name: (out / name).read_bytes() for name in ("scores.jsonl", "robustness.json")}
    assert main(argv) == 0
    assert {name: (out / name).read_bytes() for name in first} == first


# -- run / status ---------------------------------------------------------------------------
def test_status_and_dry_run_read_the_grid_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from harness.grid.spec import example_path

    grid = yaml.safe_load(example_path().read_text(encoding="utf-8"))
    out = tmp_path / "out"
    grid.update(out=str(out), languages=["de"])
    grid_file = tmp_path / "grid.yaml"
    grid_file.write_text(yaml.safe_dump(grid), encoding="utf-8")
    assert main(["status", str(grid_file)]) == 0
    printed = capsys.readouterr().out
    assert "pending" in printed and "generate" in printed
    assert main(["run", str(grid_file), "--dry-run"]) == 0
    assert "est. GPU-h" in capsys.readouterr().out
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.yaml"]
