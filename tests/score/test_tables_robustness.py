"""Alpha sweep and leaderboard tables on the paper's rows and on hand-made ones."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from harness.errors import ConfigError
from harness.score.costs import COST_TITLE, cost_table, read_costs
from harness.score.pgscore import ScoreRow, score_run
from harness.score.robustness import ALL_FAMILIES, ALPHAS, alpha_sweep, spearman
from harness.score.tables import ILL_MARK, family_table, leaderboard, summary_table

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reference"


def _paper_module():
    path = Path(__file__).with_name("test_paper_reproduction.py")
    spec = importlib.util.spec_from_file_location("_paper_reproduction", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def paper_rows() -> list[ScoreRow]:
    paper = _paper_module()
    rows = []
    for family in paper.FAMILIES:
        extrinsic, z, _ = paper.paper_inputs(family)
        rows += score_run(extrinsic, z_scores=z)
    return rows


def row(
    teacher: str, lang: str, pgr: float, z: float, ill: bool = False, family: str = "f"
) -> ScoreRow:
    return ScoreRow(
        teacher=teacher,
        language=lang,
        student_family=family,
        student_score=0.5,
        base_score=0.4,
        reference_score=0.6,
        gap=0.2,
        pgr=pgr,
        z_score=z,
        pg_score=(pgr + z) / 2,
        pgr_ill_conditioned=ill,
        headroom_gain=pgr / 6,
    )


def test_spearman_matches_scipy_with_ties() -> None:
    a, b = [1, 2, 2, 3, 5, 4], [0.3, 0.1, 0.2, 0.2, 0.9, 0.5]
    assert spearman(a, b) == pytest.approx(stats.spearmanr(a, b)[0])
    # By hand: ranks (3.5, 1, 3.5, 2) and (1, 2, 3, 4), deviations (1, -1.5, 1, -0.5) and
    # (-1.5, -0.5, 0.5, 1.5): rho = -1 / sqrt(4.5 * 5).
    assert spearman([3, 1, 3, 2], [1, 2, 3, 4]) == pytest.approx(-1 / np.sqrt(4.5 * 5))
    assert spearman([1, 1, 1], [1, 2, 3]) is None  # undefined, never NaN


def test_alpha_sweep_hand_checked() -> None:
    # t1 wins on PGR, t2 on z: alpha 0 orders the rows 1 > 2 > 3, alpha 1 orders 2 > 1 > 3,
    # so d = (1, -1, 0) and rho = 1 - 6 * 2 / (3 * 8) = 0.5.
    rows = [row("t1", "de", 1.0, -1.0), row("t2", "de", 0.0, 1.0), row("t3", "de", -1.0, -2.0)]
    sweep = alpha_sweep(rows)["families"]["f"]
    assert sweep["rows"] == 3
    assert sweep["spearman"][0][4] == pytest.approx(0.5)
    assert sweep["spearman_vs_pg"]["0.5"] == pytest.approx(1.0)


def test_robustness_ranks_teacher_language_rows_not_teacher_means() -> None:
    # Both teachers' means are 2.5 on PGR and on z, so teacher means cannot be ranked at
    # all; over the four rows PGR orders (4, 1, 3, 2) and z the exact reverse: rho = -1.
    rows = [
        row("t1", "de", 4.0, 1.0),
        row("t1", "es", 1.0, 4.0),
        row("t2", "de", 3.0, 2.0),
        row("t2", "es", 2.0, 3.0),
    ]
    sweep = alpha_sweep(rows)["families"]["f"]
    assert sweep["rows"] == 4
    assert sweep["spearman"][0][4] == pytest.approx(-1.0)
    assert sweep["spearman"][4][0] == pytest.approx(-1.0)


@pytest.mark.parametrize("family", ["gemma3-4b", "llama3-8b", "qwen3-8b"])
def test_robustness_spearman_over_the_paper_rows_matches_scipy(
    paper_rows: list[ScoreRow], family: str
) -> None:
    """Every alpha pair's rho equals scipy's over the file's (teacher, language) rows."""
    lines = (FIXTURES / f"pg_scores_base_{family}.jsonl").read_text().splitlines()
    published = [json.loads(line) for line in lines if line.strip()]
    by_alpha = {a: [a * r["z_score"] + (1 - a) * r["pgr"] for r in published] for a in ALPHAS}
    sweep = alpha_sweep([r for r in paper_rows if r.student_family == family])
    got = sweep["families"][family]
    assert got["rows"] == len(published) == 30  # rows, not the 10 teachers
    for i, a in enumerate(ALPHAS):
        for j, b in enumerate(ALPHAS):
            want = stats.spearmanr(by_alpha[a], by_alpha[b]).statistic
            assert got["spearman"][i][j] == pytest.approx(want, abs=1e-9), (a, b)
        want_pg = stats.spearmanr(by_alpha[a], by_alpha[0.5]).statistic
        assert got["spearman_vs_pg"][str(a)] == pytest.approx(want_pg, abs=1e-9)
    # The per-teacher-mean rho differs: the test tells the two methods apart.
    teachers = sorted({r["teacher_model"] for r in published})

    def teacher_means(values: list[float]) -> list[float]:
        pairs = list(zip(values, published, strict=True))
        return [np.mean([v for v, r in pairs if r["teacher_model"] == t]) for t in teachers]

    by_means = stats.spearmanr(teacher_means(by_alpha[0.0]), teacher_means(by_alpha[1.0]))[0]
    assert got["spearman"][0][4] != pytest.approx(by_means, abs=1e-3)


def test_alpha_sweep_on_paper_rows(paper_rows: list[ScoreRow]) -> None:
    result = alpha_sweep(paper_rows)
    assert result["alphas"] == list(ALPHAS)
    assert result["protocol"] is None  # the published rows predate protocols
    assert set(result["families"]) == {"gemma3-4b", "llama3-8b", "qwen3-8b", ALL_FAMILIES}
    for sweep in result["families"].values():
        matrix = np.array(sweep["spearman"], dtype=float)
        assert (
            matrix.shape == (5, 5)
            and np.allclose(matrix, matrix.T)
            and np.allclose(np.diag(matrix), 1)
        )
    assert result["families"][ALL_FAMILIES]["rows"] == 90
    assert result["families"]["gemma3-4b"]["ill_conditioned_rows"] == 30


def test_tables_mark_ill_conditioned_cells(paper_rows: list[ScoreRow]) -> None:
    gemma = [r for r in paper_rows if r.student_family == "gemma3-4b"]
    table = family_table(gemma, tablefmt="github")
    lines = table.splitlines()
    assert lines[0].startswith("| teacher") and "avg PG-Score" in lines[0] and "| ar" in lines[0]
    assert len(lines) == 12 and all(ILL_MARK in line for line in lines[2:])
    assert lines[2].split("|")[1].strip() == "gpt-4o-mini-2024-07-18"  # best average (1.021)
    headroom = family_table(gemma, value="headroom_gain", tablefmt="simple")
    assert ILL_MARK not in headroom  # the well-conditioned score is not marked
    summary = summary_table(paper_rows, tablefmt="simple")
    assert "gemma3-4b" in summary and "qwen3-8b" in summary
    assert summary.splitlines()[2].startswith("gemma-3-27b-it")
    board = leaderboard(paper_rows)
    assert board.startswith("# Polyglot leaderboard") and "(90 of 90 rows.)" in board
    with pytest.raises(ConfigError, match="unknown table value"):
        family_table(gemma, value="accuracy")


def test_well_conditioned_rows_are_unmarked() -> None:
    rows = [
        row("t1", "de", 0.5, 0.1),
        row("t1", "es", 0.7, 0.3, ill=True),
        row("t2", "de", 0.2, 0.0),
    ]
    table = family_table(rows, tablefmt="simple").splitlines()
    t1 = next(line for line in table if line.startswith("t1"))
    t2 = next(line for line in table if line.startswith("t2"))
    assert "0.300" in t1 and f"0.500{ILL_MARK}" in t1 and f"0.400{ILL_MARK}" in t1
    assert ILL_MARK not in t2 and "n/a" not in t2
    assert "ill-conditioned" not in leaderboard([rows[0], rows[2]])


def test_read_costs_and_cost_table(tmp_path: Path) -> None:
    assert read_costs(tmp_path / "scores.jsonl") is None  # scored outside the grid
    hours = {"org/big": {"gpu_h": 2.5, "cpu_h": 0.25, "wall_h": 1.25, "jobs": 9},
             "org/small": {"gpu_h": 0, "cpu_h": 0.5, "wall_h": 0.75}}  # fmt: skip
    (tmp_path / "costs.json").write_text(json.dumps(hours))
    read = read_costs(tmp_path / "scores.jsonl")
    assert read == read_costs(tmp_path)
    assert read == {"org/big": {"gpu_h": 2.5, "cpu_h": 0.25, "wall_h": 1.25},
                    "org/small": {"gpu_h": 0.0, "cpu_h": 0.5, "wall_h": 0.75}}  # fmt: skip
    table = cost_table(read).splitlines()
    assert table[0] == f"## {COST_TITLE}" and "GPU-hours" in table[2]
    assert table[4].startswith("| org/small") and "2.500" in table[5]  # cheapest first
    assert cost_table({"t": {"gpu_h": 1.0}}, tablefmt="simple").count("1.000") == 1  # blanks
    assert cost_table({}) == ""


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"t": 3}', "expected {teacher"),
        ('{"t": {"gpu_h": 1, "cpu_h": 1}}', "wall_h must be a number"),
        ('{"t": {"gpu_h": "1", "cpu_h": 1, "wall_h": 1}}', "gpu_h must be a number"),
        ('{"t": {"gpu_h": NaN, "cpu_h": 1, "wall_h": 1}}', "gpu_h must be finite"),
        ('{"t": {"gpu_h": 1, "cpu_h": -0.5, "wall_h": 1}}', "cpu_h must be finite and >= 0"),
        ('{"t": {"gpu_h": true, "cpu_h": 1, "wall_h": 1}}', "gpu_h must be a number"),
    ],
)
def test_malformed_costs_name_the_file(tmp_path: Path, text: str, match: str) -> None:
    (tmp_path / "costs.json").write_text(text)
    with pytest.raises(ConfigError, match=match) as err:
        read_costs(tmp_path)
    assert str(err.value).startswith(str(tmp_path / "costs.json")) and "\n" not in str(err.value)
