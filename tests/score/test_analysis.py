"""PCA + linear model, size regression and correlations, checked against the paper."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from harness.score.analysis import (
    PCA_FEATURES,
    TEACHER_SIZES_B,
    ols,
    pca_regression,
    run_analysis,
    short_name,
)
from harness.score.inputs import IntrinsicRow
from harness.score.pgscore import score_run

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reference"


def published_pca_data(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict]:
    """Data whose standardised PCA and regression are exactly the paper's published ones.

    The paper's metrics are not published, only their PCA. Its components and variance
    ratios define a correlation matrix with unit diagonal (so the paper standardised);
    we build n centred, orthogonal score columns with those variances, rotate them back
    into metric space, put each metric on a realistic scale, and add a target whose
    least-squares fit on the scores has the paper's coefficients, intercept and R^2.
    """
    paper = json.loads((FIXTURES / "pca_results.json").read_text())
    components = np.array(paper["pca_components"])
    ratio = np.array(paper["explained_variance_ratio"])
    rng = np.random.default_rng(seed)
    raw = rng.normal(size=(n, 7))
    raw -= raw.mean(axis=0)
    q, _ = np.linalg.qr(raw)
    scores = q[:, :6] * np.sqrt(n * ratio * 6)
    standardised = scores @ components
    scale = np.array([0.05, 0.05, 8.0, 0.4, 30.0, 120.0])
    offset = np.array([0.6, 0.7, 40.0, 4.1, 150.0, 600.0])
    features = standardised * scale + offset
    fitted = scores @ np.array(paper["coefficients"])
    noise = q[:, 6] * math.sqrt(
        float(fitted @ fitted) * (1 - paper["r2_score"]) / paper["r2_score"]
    )
    target = paper["intercept"] + fitted + noise
    return features, target, paper


def test_pca_regression_recovers_published_results() -> None:
    features, target, paper = published_pca_data()
    got = pca_regression(features, target)
    assert got["explained_variance_ratio"] == pytest.approx(
        paper["explained_variance_ratio"], abs=1e-9
    )
    assert got["cumulative_variance"] == pytest.approx(paper["cumulative_variance"], abs=1e-9)
    assert sum(got["explained_variance_ratio"][:4]) == pytest.approx(0.933, abs=5e-4)
    signs = np.sign(np.sum(np.array(got["pca_components"]) * paper["pca_components"], axis=1))
    assert np.allclose(
        np.array(got["pca_components"]) * signs[:, None], paper["pca_components"], atol=1e-8
    )
    assert np.array(got["coefficients"]) * signs == pytest.approx(paper["coefficients"], abs=1e-8)
    assert got["intercept"] == pytest.approx(paper["intercept"], abs=1e-12)
    assert got["r2_score"] == pytest.approx(0.6640039249311516, abs=1e-9)
    assert got["cv_r2_score"] is not None and got["cv_r2_score"] < got["r2_score"]


def test_ols_matches_scipy_linregress() -> None:
    x, y = [0.1, 1.2, 2.2, 3.1, 4.5], [1.0, 0.8, 1.9, 1.7, 2.6]
    got, want = ols(x, y), stats.linregress(x, y)
    assert got["beta"] == pytest.approx(want.slope) and got["p_value"] == pytest.approx(want.pvalue)
    assert got["stderr"] == pytest.approx(want.stderr) and got["r2"] == pytest.approx(
        want.rvalue**2
    )


def _paper_rows():
    path = Path(__file__).with_name("test_paper_reproduction.py")
    spec = importlib.util.spec_from_file_location("_paper_reproduction", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = []
    for family in module.FAMILIES:
        extrinsic, z, _ = module.paper_inputs(family)
        rows += score_run(extrinsic, z_scores=z)
    return rows


def test_analysis_on_paper_rows(tmp_path: Path) -> None:
    result = run_analysis(_paper_rows(), [], tmp_path)
    assert "skipped" in result["pca"]  # the fixtures carry z, not the six metrics
    sizes = result["size_regression"]
    assert sizes["teachers_without_size"] == ["gpt-4o-mini-2024-07-18"]
    for fit in sizes["families"].values():
        assert fit["n"] == 9 and math.isfinite(fit["beta"]) and 0 <= fit["p_value"] <= 1
    assert short_name("CohereLabs/c4ai-command-a-03-2025") in TEACHER_SIZES_B
    corr = result["correlations"]["z_score~pgr"]
    assert corr["n"] == 90 and -1 <= corr["spearman_rho"] <= 1
    assert {p.name for p in tmp_path.iterdir()} == {
        "analysis.json",
        "pg_vs_size.png",
        "z_vs_extrinsic.png",
    }
    assert (tmp_path / "pg_vs_size.png").read_bytes()[:4] == b"\x89PNG"


def test_analysis_with_intrinsic_rows(tmp_path: Path) -> None:
    """End to end from rows: PCA on (teacher, language) metrics joined to score rows."""
    features, _, _ = published_pca_data(n=30)
    paper = _paper_rows()[:30]  # one family: 10 teachers x 3 languages
    intrinsic = [
        IntrinsicRow(r.teacher, r.language, **dict(zip(PCA_FEATURES, f, strict=True)))
        for r, f in zip(paper, features, strict=False)
    ]
    result = run_analysis(paper, intrinsic, tmp_path)
    pca = result["pca"]
    assert pca["n_rows"] == 30 and sum(pca["explained_variance_ratio"]) == pytest.approx(1.0)
    assert math.isfinite(pca["r2_score"]) and 0 <= pca["r2_score"] <= 1
    assert "rubric_score~student_score" in result["correlations"]
    assert (tmp_path / "pca_scree.png").exists()
