"""``polyglot-harness intrinsic`` end to end: real models, caching, resume, errors."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.intrinsic.run import ROWS_FILE, SUMMARY_FILE, compute_intrinsic, read_summary

DE = [
    ("Wie viele Äpfel bleiben übrig, wenn ich 5 habe und 2 esse?", "Es bleiben 3 Äpfel übrig."),
    ("Was ist die Hauptstadt von Deutschland?", "Berlin ist die Hauptstadt Deutschlands."),
    ("Nenne eine Farbe.", ""),  # invalid: empty
    ("Erkläre kurz, was Photosynthese ist.", "Pflanzen wandeln Licht in chemische Energie um."),
    ("Was ist die Hauptstadt von Deutschland?", "Berlin ist die Hauptstadt Deutschlands."),  # dup
]
JA = [
    ("りんごは何個残っていますか？", "三個残っています。"),
    ("日本の首都はどこですか？", "東京です。"),
    ("Translate: cat", "猫"),
    ("What is two plus two?", "Four."),  # invalid: wrong language
]


def write_dataset(folder: Path, pairs, language: str, invalid: dict[int, str]) -> Path:
    """A collected dataset in the SFT schema (harness.schema.SFTRow columns)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from harness.schema import DATA_FILE, SFT_COLUMNS, sft_row

    rows = []
    for i, (prompt, response) in enumerate(pairs):
        reason = invalid.get(i)
        detected = {"empty": None, "wrong_language": "en"}.get(reason or "", language)
        rows.append(
            dict(
                sft_row(
                    prompt, response, language=language, strategy="generate",
                    teacher="org/tiny-teacher", seed_id=f"{language}-{i:04d}",
                    valid=reason is None, invalid_reason=reason, detected_language=detected,
                    doc_id=i, temperature=0.8, top_p=0.9, max_gen_toks=256,
                )
            )
        )  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    if rows:
        table = pa.Table.from_pylist(rows)
    else:  # the columns, without rows
        table = pa.Table.from_pylist([dict.fromkeys(SFT_COLUMNS, "")]).slice(0, 0)
    pq.write_table(table, folder / DATA_FILE)
    return folder / DATA_FILE


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    write_dataset(root / "org__tiny-teacher" / "de", DE, "de", {2: "empty"})
    write_dataset(root / "org__tiny-teacher" / "ja", JA, "ja", {3: "wrong_language"})
    return root


def _caches(out: Path) -> dict[str, int]:
    """Every cache file and its mtime (ns)."""
    return {
        str(p.relative_to(out)): p.stat().st_mtime_ns
        for p in sorted(out.glob("*/*/*"))
        if p.suffix in {".json", ".parquet"}
    }


def _computed(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("computed ")]


def test_end_to_end_cache_and_resume(
    data_dir: Path,
    tmp_path: Path,
    tiny_model_dir: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="harness.intrinsic.run")
    out = tmp_path / "metrics"
    argv = [
        "intrinsic", str(data_dir), "--out", str(out),
        "--metrics", "validity,lengths,diversity,lexical,duplicates,fluency,judge,contamination",
        "--reference-lm", str(tiny_model_dir),
        "--judge", f"hf:pretrained={tiny_model_dir},dtype=float32",
        "--judge-max-gen-toks", "8", "--device", "cpu", "--batch-size", "2", "--no-progress",
    ]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "skipping contamination: needs --benchmarks-dir" in caplog.text  # logged, not printed
    assert "org/tiny-teacher" in printed and "wrote" in printed
    assert len(_computed(caplog)) == 2 * 7
    assert not list(out.rglob(".judge.partial.jsonl"))  # progress goes once the cache holds it

    summary = {s["language"]: s for s in read_summary(out)}
    assert set(summary) == {"de", "ja"}
    de, ja = summary["de"], summary["ja"]
    for key in (
        "teacher", "language", "prompt_diversity", "response_diversity", "perplexity",
        "rubric_score", "prompt_length", "response_length", "valid_rate",
        "language_match_rate", "duplicate_rate", "near_duplicate_rate", "judge_parse_rate",
        "contamination_rate", "n_rows", "n_valid",
    ):  # fmt: skip
        assert key in de, key
    assert de["teacher"] == "org/tiny-teacher"
    assert (de["n_rows"], de["n_valid"], de["valid_rate"]) == (5, 4, 0.8)
    assert de["language_match_rate"] == 0.8  # the empty row has no detected language
    assert ja["language_match_rate"] == 0.75 and ja["valid_rate"] == 0.75
    assert de["duplicate_rate"] == 0.25  # one repeated pair among 4 valid rows
    assert de["near_duplicate_rate"] >= 0.25 and ja["duplicate_rate"] == 0.0
    for s in (de, ja):
        assert 0.0 < s["prompt_diversity"] < 2.0 and 0.0 < s["response_diversity"] < 2.0
        assert s["perplexity"] > 1.0 and math.isfinite(s["perplexity"])
        assert s["prompt_length"] > 0 and s["response_length"] > 0
        # A garbage judge under the paper's rule: every judgement unparseable, each a 1.
        assert s["rubric_score"] == 1.0 and s["judge_parse_rate"] == 0.0
        assert s["n_unparseable"] == s["n_valid"]
        assert s["subsample_size"] == s["n_valid"]  # fewer rows than 10,000: all measured
        assert s["subsample_per_strategy"] == {"generate": s["n_valid"]}
        # The 8-token judge budget is off the protocol: recorded as a deviation.
        assert s["protocol"] == {
            "name": "paper", "corrections": [], "deviations": {"judge_max_gen_toks": 8},
        }  # fmt: skip
        assert s["contamination_rate"] is None  # skipped, not zero
        assert 0 < s["response_distinct_1"] <= 1.0

    import pyarrow.parquet as pq

    rows = pq.read_table(out / ROWS_FILE).to_pylist()
    assert len(rows) == 4 + 3  # valid rows only
    assert {r["seed_id"] for r in rows if r["language"] == "de"} == {
        "de-0000", "de-0001", "de-0003", "de-0004"
    }  # fmt: skip
    for r in rows:
        assert r["perplexity"] > 1.0 and r["prompt_length"] > 0 and r["response_length"] > 0
        assert r["rubric_score"] == 1 and r["rubric_parsed"] is False

    # A rerun recomputes nothing and loads no model: every cache file is untouched.
    before = _caches(out)
    caplog.clear()
    assert main(argv) == 0
    assert _computed(caplog) == []
    assert _caches(out) == before
    assert read_summary(out) == list(summary.values())

    # Resume: delete one cache, corrupt another (a crash mid-write would not, but a
    # disk might); exactly those two are recomputed.
    (out / "org__tiny-teacher" / "de" / "fluency.json").unlink()
    (out / "org__tiny-teacher" / "ja" / "diversity.json").write_text("{not json")
    caplog.clear()
    assert main(argv) == 0
    assert sorted(_computed(caplog)) == [
        "computed diversity for org__tiny-teacher/ja",
        "computed fluency for org__tiny-teacher/de",
    ]
    after = _caches(out)
    changed = {k for k in after if after[k] != before.get(k)}
    assert changed == {
        "org__tiny-teacher/de/fluency.json",
        "org__tiny-teacher/de/fluency_rows.parquet",
        "org__tiny-teacher/ja/diversity.json",
    }
    assert read_summary(out) == list(summary.values())  # same numbers again


def test_metric_alone_changed_input_and_contamination(
    data_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys
) -> None:
    caplog.set_level(logging.INFO, logger="harness.intrinsic.run")
    out = tmp_path / "metrics"
    bench = tmp_path / "bench" / "mgsm" / "de"
    bench.mkdir(parents=True)
    item = {
        "question": DE[0][0] + " " + DE[0][1] + " Antwort mit Rechenweg bitte",
        "answer_number": 3,
    }
    (bench / "test.jsonl").write_text(json.dumps(item, ensure_ascii=False) + "\n")

    path = compute_intrinsic(
        data_dir, out, metrics=("lexical", "contamination"), benchmarks_dir=str(tmp_path / "bench"),
        progress=False,
    )  # fmt: skip
    assert path == out / SUMMARY_FILE
    summary = {s["language"]: s for s in read_summary(path)}
    de, ja = summary["de"], summary["ja"]
    assert de["prompt_distinct_1"] > 0 and de["perplexity"] is None
    assert de["contamination_rate"] == 0.25 and de["contamination_items_matched"] == 1
    assert ja["contamination_rate"] is None and ja["contamination_items"] == 0  # no ja files

    # The judge alone, without --judge: a one-line notice, no error, nothing computed.
    caplog.clear()
    compute_intrinsic(data_dir, out, metrics=("judge",), progress=False)
    assert "skipping judge: needs --judge" in caplog.text
    assert capsys.readouterr().out == ""  # the library logs; only the CLI prints
    assert _computed(caplog) == []

    # New data invalidates that dataset's caches (and only its), on the next run.
    write_dataset(data_dir / "org__tiny-teacher" / "de", DE[:3], "de", {2: "empty"})
    caplog.clear()
    compute_intrinsic(
        data_dir, out, metrics=("lexical", "contamination"), benchmarks_dir=str(tmp_path / "bench"),
        progress=False,
    )  # fmt: skip
    assert sorted(_computed(caplog)) == [
        "computed contamination for org__tiny-teacher/de",
        "computed lexical for org__tiny-teacher/de",
    ]
    assert read_summary(path)[0]["n_rows"] == 3


def test_errors_name_the_path(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    empty_root = tmp_path / "nothing"
    empty_root.mkdir()
    assert main(["intrinsic", str(empty_root), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no collected datasets under" in err and str(empty_root) in err
    assert len(err.splitlines()) == 1

    assert main(["intrinsic", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err

    data = write_dataset(tmp_path / "d" / "t" / "de", [], "de", {})
    assert (
        main(
            [
                "intrinsic",
                str(tmp_path / "d"),
                "--out",
                str(tmp_path / "m"),
                "--metrics",
                "validity",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "holds no rows" in err and str(data) in err

    # metric names are checked by IntrinsicOptions (plugins pass there), in one line
    assert main(["intrinsic", str(tmp_path / "d"), "--metrics", "validity,bogus"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'bogus'" in err


# --- issue 12: schema on read, content-keyed caches, models checked before work --------


def _one_line_error(argv: list[str], capsys: pytest.CaptureFixture) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def _replace_column(path: Path, name: str, values) -> None:
    """Rewrite a collected parquet with one column replaced (``None``: dropped)."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    if name in table.column_names:
        table = table.drop_columns([name])
    if values is not None:
        table = table.append_column(name, values)
    pq.write_table(table, path)


def test_valid_column_of_nan_or_null_is_an_error_not_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """9 rows, 3 valid: NaN used to read as valid (valid_rate 1.0); now one line names it."""
    import pyarrow as pa

    pairs = [(f"Frage {i}?", f"Antwort {i}.") for i in range(9)]
    path = write_dataset(tmp_path / "data" / "t" / "de", pairs, "de", {})
    out = tmp_path / "m"
    argv = ["intrinsic", str(tmp_path / "data"), "--out", str(out), "--metrics", "validity"]
    _replace_column(path, "valid", pa.array([1.0, 1.0, 1.0] + [math.nan] * 6))
    err = _one_line_error(argv, capsys)
    assert str(path) in err and "column 'valid' is double, expected bool" in err
    _replace_column(path, "valid", pa.array([True] * 3 + [None] * 6, pa.bool_()))
    err = _one_line_error(argv, capsys)
    assert str(path) in err and "'valid' holds 6 null value(s) of 9" in err
    assert not (out / SUMMARY_FILE).exists()


@pytest.mark.parametrize("column", ["teacher", "seed_id"])
def test_missing_column_or_bad_utf8_names_file_and_column(
    column: str, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import pyarrow as pa

    path = data_dir / "org__tiny-teacher" / "ja" / "data.parquet"
    argv = ["intrinsic", str(data_dir), "--out", str(tmp_path / "m"), "--metrics", "lexical"]
    _replace_column(path, column, None)
    err = _one_line_error(argv, capsys)
    assert str(path) in err and f"'{column}' missing" in err
    _replace_column(path, column, pa.array([b"ok", b"\xff", b"ok", b"ok"]).view(pa.string()))
    err = _one_line_error(argv, capsys)
    assert str(path) in err and f"column '{column}' holds invalid UTF-8" in err


def test_byte_identical_rewrite_keeps_every_cache(
    data_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Re-running `collect` rewrites the same bytes with a new mtime: nothing is recomputed."""
    import os

    caplog.set_level(logging.INFO, logger="harness.intrinsic.run")
    out = tmp_path / "metrics"
    options = {"metrics": ("validity", "lexical", "duplicates"), "progress": False}
    compute_intrinsic(data_dir, out, **options)
    before = _caches(out)
    for path in data_dir.glob("*/*/data.parquet"):
        path.write_bytes(path.read_bytes())
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**10))
    caplog.clear()
    compute_intrinsic(data_dir, out, **options)
    assert _computed(caplog) == [] and _caches(out) == before
    assert "ignoring" not in caplog.text  # the summary still joins every cache
    assert read_summary(out)[0]["valid_rate"] == 0.8


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--metrics", "validity,fluency", "--reference-lm", "org/missing"], "reference LM 'org/missing'"),
        (["--metrics", "validity,lengths", "--tokenizer", "/no/such/tokenizer"], "'/no/such/tokenizer': no such model folder"),
        (["--metrics", "validity,judge", "--judge", "hf:pretrained=org/missing"], "judge hf:pretrained 'org/missing'"),
        (["--metrics", "validity,judge", "--judge", "vlm:pretrained=x"], "no model type 'vlm' (--judge); did you mean vllm"),
    ],
)  # fmt: skip
def test_models_that_do_not_resolve_fail_in_one_line_before_any_work(
    flags: list[str], expected: str, data_dir: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "m"
    err = _one_line_error(["intrinsic", str(data_dir), "--out", str(out), *flags], capsys)
    assert expected in err
    assert not out.exists()  # not even the cheap metric ran first


def test_judge_backend_without_its_package_names_the_install(
    data_dir: Path, tmp_path: Path, capsys
) -> None:
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here")
    out = tmp_path / "m"
    argv = ["intrinsic", str(data_dir), "--out", str(out), "--metrics", "judge"]
    err = _one_line_error([*argv, "--judge", "vllm:pretrained=org/judge"], capsys)
    assert "vllm" in err and "pip install 'polyglot-harness[vllm]'" in err and not out.exists()
    # The API (what grid jobs call) checks it too, before any work.
    from harness.errors import MissingRequirementError

    with pytest.raises(MissingRequirementError, match=r"judge backend 'vllm' needs .*\[vllm\]"):
        compute_intrinsic(data_dir, out, metrics=("validity", "judge"), judge="vllm:pretrained=x")
    assert not out.exists()


# --- protocols ---------------------------------------------------------------------------


def test_switching_protocol_recomputes_fluency_and_judge_and_rejudges_nothing(
    data_dir: Path, tmp_path: Path, tiny_model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import pyarrow.parquet as pq

    caplog.set_level(logging.INFO, logger="harness.intrinsic")
    out = tmp_path / "metrics"
    options = {
        "metrics": ("validity", "lexical", "fluency", "judge"),
        "reference_lm": str(tiny_model_dir),
        "judge": f"hf:pretrained={tiny_model_dir},dtype=float32",
        "judge_max_gen_toks": 6,
        "fluency_batch_size": 2,
        "device": "cpu",
        "progress": False,
    }
    compute_intrinsic(data_dir, out, **options)
    paper = {s["language"]: s for s in read_summary(out)}
    de = out / "org__tiny-teacher" / "de"
    paper_judged = pq.read_table(de / "judge_rows.parquet").to_pydict()
    paper_ppl = pq.read_table(de / "fluency_rows.parquet").to_pydict()["perplexity"]
    assert paper_ppl[0] == paper_ppl[1] and paper_ppl[2] == paper_ppl[3]  # batches of two

    caplog.clear()
    compute_intrinsic(data_dir, out, protocol="corrected", **options)
    assert sorted(_computed(caplog)) == sorted(
        f"computed {m} for org__tiny-teacher/{lang}"
        for lang in ("de", "ja")
        for m in ("fluency", "judge")
    )  # validity and lexical do not depend on the protocol: served from their caches
    assert "4 rows already judged, 0 to go" in caplog.text  # rescored, not re-judged
    corrected = {s["language"]: s for s in read_summary(out)}
    judged = pq.read_table(de / "judge_rows.parquet").to_pydict()
    assert judged["judge_raw_output"] == paper_judged["judge_raw_output"]  # sampled once
    assert judged["rubric_score"] == [None] * 4 and paper_judged["rubric_score"] == [1] * 4
    for lang in ("de", "ja"):
        assert paper[lang]["rubric_score"] == 1.0 and corrected[lang]["rubric_score"] is None
        assert corrected[lang]["protocol"]["name"] == "corrected"
        assert corrected[lang]["perplexity"] != paper[lang]["perplexity"]
        assert corrected[lang]["prompt_distinct_1"] == paper[lang]["prompt_distinct_1"]
    per_row = pq.read_table(de / "fluency_rows.parquet").to_pydict()["perplexity"]
    assert per_row[0] != per_row[1]  # each row its own value now

    # A summary written under paper now finds only the corrected fluency and judge
    # caches: it leaves them out rather than report the other rule's values.
    caplog.clear()
    compute_intrinsic(data_dir, out, metrics=("validity",), progress=False)
    [de_row, _] = read_summary(out)
    assert de_row["perplexity"] is None and de_row["rubric_score"] is None
    assert de_row["valid_rate"] == 0.8
    assert "computed under another protocol than paper" in caplog.text


def test_protocol_flag_and_bad_protocol(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "m"
    argv = ["intrinsic", str(data_dir), "--out", str(out), "--metrics", "validity", "--no-progress"]
    assert main([*argv, "--protocol", "paper+exclude_unparseable_judgements"]) == 0
    rows = read_summary(out)
    assert {r["protocol"]["name"] for r in rows} == {"paper+exclude_unparseable_judgements"}
    capsys.readouterr()
    err = _one_line_error([*argv, "--protocol", "paper+per_row_fluncy"], capsys)
    assert "unknown correction 'per_row_fluncy'" in err and "per_row_fluency" in err


def test_options_store_the_canonical_protocol() -> None:
    from harness.errors import ConfigError
    from harness.intrinsic.compute import IntrinsicOptions

    assert IntrinsicOptions().protocol == "paper"
    both = IntrinsicOptions(protocol="paper+per_row_fluency+exclude_unparseable_judgements")
    assert both.protocol == "paper+exclude_unparseable_judgements+per_row_fluency"
    with pytest.raises(ConfigError, match="unknown protocol"):
        IntrinsicOptions(protocol="papre")


def test_paper_fluency_cache_is_keyed_on_its_batch_size_and_per_row_is_not() -> None:
    from harness.intrinsic.compute import IntrinsicOptions, params_for

    def key(protocol: str, batch: int) -> dict:
        options = IntrinsicOptions(reference_lm="r", fluency_batch_size=batch, protocol=protocol)
        return params_for("fluency", options, "de", "rows")

    assert key("paper", 2) != key("paper", 4)  # a row's value is its batch's
    assert key("corrected", 2) == key("corrected", 4)
    assert key("paper", 2) != key("corrected", 2)


def test_paper_judge_is_schema_guided_score_first_where_the_backend_allows(
    data_dir: Path, tmp_path: Path, tiny_model_dir: Path
) -> None:
    """An hf judge runs as polyglot-hf: even a random-init model writes the score first."""
    import pyarrow.parquet as pq

    out = tmp_path / "metrics"
    compute_intrinsic(
        data_dir, out, metrics=("judge",), judge=f"hf:pretrained={tiny_model_dir},dtype=float32",
        judge_max_gen_toks=12, device="cpu", progress=False,
    )  # fmt: skip
    raw = pq.read_table(out / "org__tiny-teacher" / "de" / "judge_rows.parquet")
    outputs = raw.to_pydict()["judge_raw_output"]
    assert len(outputs) == 4
    assert all(o.startswith('{"score": ') and o[10] in "12345" for o in outputs), outputs
    [row, _] = read_summary(out)
    assert row["protocol"]["deviations"] == {"judge_max_gen_toks": 12}


def test_judge_without_schema_guidance_is_a_recorded_deviation() -> None:
    from harness.errors import ConfigError
    from harness.intrinsic.compute import IntrinsicOptions, deviations

    guided = IntrinsicOptions(judge="hf:pretrained=x")
    assert guided.judge_structured and guided.judge_backend() == "polyglot-hf"
    assert deviations("judge", guided) == {}
    off = IntrinsicOptions(judge="hf:pretrained=x", judge_structured_output=False)
    assert deviations("judge", off) == {"judge_structured_output": False}
    unguided = IntrinsicOptions(judge="anthropic-chat:model=x")
    assert deviations("judge", unguided) == {"judge_structured_output": False}
    with pytest.raises(ConfigError, match="not available for the judge's model type"):
        IntrinsicOptions(judge="anthropic-chat:model=x", judge_structured_output=True)
