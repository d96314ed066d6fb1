"""The PG-Score ``evaluate`` metric module: loads offline, agrees with the scorer and the
paper's published rows, carries a metric card, and its Space app computes."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from harness.errors import ConfigError, InputNotFoundError
from harness.metrics import available, path
from harness.score.pgscore import score_run
from harness.score.rows import IntrinsicRow

SCORE_TESTS = Path(__file__).parent / "score"


@pytest.fixture(scope="module")
def paper_module():
    spec = importlib.util.spec_from_file_location(
        "_paper_reproduction", SCORE_TESTS / "test_paper_reproduction.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pg_z():
    import evaluate

    return evaluate.load(path("pg_score"), config_name="z")


@pytest.fixture(scope="module")
def pg_metrics():
    import evaluate

    return evaluate.load(path("pg_score"))


def test_metric_loads_from_its_folder_with_the_hub_unreachable(tmp_path: Path) -> None:
    """Offline: every Hub switch off and the endpoint a closed port; a local path loads."""
    code = (
        "import json, evaluate\n"
        "from harness.metrics import path\n"
        "pg = evaluate.load(path('pg_score'), config_name='z')\n"
        "out = pg.compute(teacher=['a', 'b'], language=['de', 'de'], family=['s', 's'],\n"
        "                 student=[0.45, 0.35], base=[0.3, 0.3], reference=[0.5, 0.5],\n"
        "                 z_score=[0.5, -0.5])\n"
        "print(json.dumps(out))\n"
    )
    env = {
        **os.environ, "HF_HUB_OFFLINE": "1", "HF_EVALUATE_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HOME": str(tmp_path),
    }  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    # by hand: PGR = (0.45 - 0.3) / 0.2 = 0.75, (0.35 - 0.3) / 0.2 = 0.25; PG = (PGR + z) / 2
    assert out["pgr"] == pytest.approx([0.75, 0.25])
    assert out["pg_score"] == pytest.approx([0.625, -0.125])


def test_published_rows_agree_with_the_scorer_and_the_paper(pg_z, paper_module) -> None:
    """Consistency check (anchors recovered from the published rows themselves)."""
    cells, published, expected = [], [], {}
    for family in paper_module.FAMILIES:
        extrinsic, z, rows = paper_module.paper_inputs(family)
        anchors = paper_module.recover_anchors(rows)
        for s in score_run(extrinsic, z_scores=z):  # the scorer, run on its own
            expected[(s.teacher, s.language, family)] = s
        for r in rows:
            base, ref, _ = anchors[r["target_lang"]]
            cells.append((r["teacher_model"], r["target_lang"], family, r["result"], base, ref,
                          r["z_score"], r["result_stderr"]))  # fmt: skip
            published.append(r)
    columns = list(zip(*cells, strict=True))
    out = pg_z.compute(
        teacher=list(columns[0]), language=list(columns[1]), family=list(columns[2]),
        student=list(columns[3]), base=list(columns[4]), reference=list(columns[5]),
        z_score=list(columns[6]), student_stderr=list(columns[7]),
    )  # fmt: skip
    assert len(out["pgr"]) == len(published) == 90
    for i, row in enumerate(published):
        scorer = expected[(row["teacher_model"], row["target_lang"], out["family"][i])]
        assert out["pgr"][i] == pytest.approx(scorer.pgr, abs=1e-12)
        assert out["pg_score"][i] == pytest.approx(scorer.pg_score, abs=1e-12)
        assert out["pgr"][i] == pytest.approx(row["pgr"], abs=1e-6)
        assert out["pg_score"][i] == pytest.approx(row["pg_score"], abs=1e-6)
        # every published gap is ill-conditioned: no interval is claimed for any row
        assert out["pgr_ill_conditioned"][i] and out["pgr_lo"][i] is None


def test_intrinsic_configuration_fits_z_as_written_in_the_method(pg_metrics) -> None:
    metrics = np.array(  # prompt div, response div, rubric, perplexity for t1..t3 in de
        [[0.50, 0.50, 3.0, 10.0], [0.60, 0.40, 4.0, 12.0], [0.70, 0.60, 5.0, 20.0]]
    )
    out = pg_metrics.compute(
        teacher=["t1", "t2", "t3"], language=["de"] * 3, family=["s"] * 3,
        student=[0.45, 0.35, 0.40], base=[0.3] * 3, reference=[0.5] * 3,
        prompt_diversity=metrics[:, 0].tolist(), response_diversity=metrics[:, 1].tolist(),
        rubric_score=metrics[:, 2].tolist(), perplexity=metrics[:, 3].tolist(),
    )  # fmt: skip
    columns = np.column_stack([metrics[:, :3], -np.log1p(metrics[:, 3])])
    z = ((columns - columns.mean(axis=0)) / columns.std(axis=0)).mean(axis=1)  # ddof=0
    assert out["z"] == pytest.approx(z.tolist(), abs=1e-12)
    assert out["pg_score"] == pytest.approx(((np.array([0.75, 0.25, 0.5]) + z) / 2).tolist())
    scorer = score_run_rows(metrics)
    assert out["z"] == pytest.approx([scorer[t].z_score for t in ("t1", "t2", "t3")], abs=1e-12)


def score_run_rows(metrics: np.ndarray) -> dict:
    from harness.score.rows import ExtrinsicRow

    extrinsic = [ExtrinsicRow("base", "s", "m", "de", 0.3), ExtrinsicRow("reference", "s", "m", "de", 0.5)]  # fmt: skip
    extrinsic += [ExtrinsicRow("student", "s", "m", "de", v, teacher=t, target_language="de")
                  for t, v in zip(("t1", "t2", "t3"), (0.45, 0.35, 0.40), strict=True)]  # fmt: skip
    intrinsic = [
        IntrinsicRow(t, "de", *m) for t, m in zip(("t1", "t2", "t3"), metrics, strict=True)
    ]
    return {s.teacher: s for s in score_run(extrinsic, intrinsic)}


def test_pgr_interval_has_the_spread_of_the_simulated_ratio(pg_z) -> None:
    """The delta-method interval against a Monte Carlo of (s - b) / (r - b)."""
    s, b, r, se = 0.52, 0.30, 0.60, (0.012, 0.010, 0.011)
    out = pg_z.compute(
        teacher=["t"], language=["de"], family=["f"], student=[s], base=[b], reference=[r],
        z_score=[0.2], student_stderr=[se[0]], base_stderr=[se[1]], reference_stderr=[se[2]],
    )  # fmt: skip
    rng = np.random.default_rng(0)
    draws = rng.normal([s, b, r], se, size=(400_000, 3))
    ratio = (draws[:, 0] - draws[:, 1]) / (draws[:, 2] - draws[:, 1])
    half = (out["pgr_hi"][0] - out["pgr_lo"][0]) / 2
    assert half == pytest.approx(1.959964 * ratio.std(), rel=0.03)
    assert out["pg_score_hi"][0] - out["pg_score_lo"][0] == pytest.approx(half)  # z is exact


def test_rows_disagreeing_on_an_anchor_are_refused(pg_z) -> None:
    with pytest.raises(ValueError, match=r"rows of \('f', 'de'\) give two different base"):
        pg_z.compute(teacher=["a", "b"], language=["de", "de"], family=["f", "f"],
                     student=[0.4, 0.4], base=[0.3, 0.31], reference=[0.5, 0.5],
                     z_score=[0.0, 0.0])  # fmt: skip


def test_metric_card_has_evaluate_front_matter_and_sections() -> None:
    folder = Path(path("pg_score"))
    text = (folder / "README.md").read_text(encoding="utf-8")
    _, header, body = text.split("---\n", 2)
    meta = yaml.safe_load(header)
    assert {"evaluate", "metric"} <= set(meta["tags"]) and meta["sdk"] == "gradio"
    assert (folder / meta["app_file"]).is_file() and meta["description"].strip()
    for section in ("# Metric Card for PG-Score", "## Metric Description", "## How to Use",
                    "### Inputs", "### Output Values", "## Limitations and Bias", "## Citation"):  # fmt: skip
        assert section in body


def test_path_names_the_shipped_modules() -> None:
    assert available() == ["pg_score"]
    assert path("pg_score").endswith("pg_score")
    with pytest.raises(
        InputNotFoundError,
        match="no metric module 'pg_scor' in polyglot-harness; available: pg_score",
    ):
        path("pg_scor")


def test_space_app_computes_its_example() -> None:
    folder = Path(path("pg_score"))
    spec = importlib.util.spec_from_file_location("_pg_score_space_app", folder / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)  # builds the gradio Blocks; never launched here
    table = app.compute(app.EXAMPLE)
    assert list(table["teacher"]) == ["t1", "t2", "t3"]
    assert table["pgr"].tolist() == pytest.approx([0.75, 0.25, 0.5])


def test_metric_module_is_not_git_ignored() -> None:
    """An ignored folder is left out of commits and of the wheel (hatch reads .gitignore)."""
    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        pytest.skip("not a git checkout")
    done = subprocess.run(
        ["git", "check-ignore", "-q", "harness/metrics/pg_score/pg_score.py"], cwd=root
    )
    assert done.returncode == 1, ".gitignore hides harness/metrics/: anchor it as /metrics/"


# ---- hostile inputs ------------------------------------------------------------------
TWO = {"teacher": ["a", "b"], "language": ["de", "de"], "family": ["f", "f"],
       "student": [0.45, 0.35], "base": [0.3, 0.3], "reference": [0.5, 0.5]}  # fmt: skip
SE = {"student_stderr": [0.01] * 2, "base_stderr": [0.01] * 2, "reference_stderr": [0.01] * 2}


@pytest.mark.parametrize("confidence", [95, 1.0, 1.5, 0.0, -0.5, float("nan")])
def test_confidence_outside_zero_one_is_refused(pg_z, confidence) -> None:
    # before: NaN bounds (95, 1.5, NaN), infinite ones (1), or a negative level's
    # interval that excludes its own point (lo > PGR), all returned without a word
    with pytest.raises(ConfigError, match=r"confidence is .*strictly between 0 and 1"):
        pg_z.compute(**TWO, **SE, z_score=[0.0, 0.0], confidence=confidence)


def test_a_nan_anchor_is_named_as_the_field_it_is(pg_z) -> None:
    # before: "rows of ('f', 'de') give two different base/reference scores: (nan, ...)
    # and (nan, ...)", the same NaN twice read as a disagreement
    with pytest.raises(ConfigError, match=r"field 'score' is nan; expected a finite number"):
        pg_z.compute(**{**TWO, "base": [float("nan")] * 2}, z_score=[0.0, 0.0])


def test_z_nan_is_refused_and_z_none_leaves_pg_null(pg_z) -> None:
    with pytest.raises(ConfigError, match=r"row 0: z_score is nan"):  # before: "two different"
        pg_z.compute(**TWO, z_score=[float("nan"), 0.5])
    out = pg_z.compute(**TWO, z_score=[None, 0.5])  # before: TypeError from float(None)
    assert out["z"] == [None, 0.5] and out["pg_score"][0] is None
    assert out["pg_score"][1] == pytest.approx((out["pgr"][1] + 0.5) / 2)


def test_anchors_are_compared_per_family_and_language_as_the_scorer_joins_them(pg_z) -> None:
    case = {**TWO, "language": ["DE", "de"], "family": ["F", "f"]}
    # before: "base: a second base score for f mean_de (first from base); remove one",
    # which names no row the user wrote twice
    with pytest.raises(ConfigError, match=r"rows of \('f', 'de'\) give two different base"):
        pg_z.compute(**{**case, "base": [0.3, 0.31]}, z_score=[0.0, 0.0])
    out = pg_z.compute(**case, z_score=[0.5, -0.5])  # before: refused the same way
    same = pg_z.compute(**TWO, z_score=[0.5, -0.5])
    assert out["pgr"] == same["pgr"] and out["pg_score"] == same["pg_score"]
