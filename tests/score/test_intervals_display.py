"""Intervals, tie groups, the sort note and predicted rows in the tables, the CLI and the card.

The interval files are written here by hand in the bootstrap's format, so these tests
check the display alone (tests/score/test_bootstrap.py checks the numbers).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.naming import INTERVALS_FILE, RANKS_FILE
from harness.score.intervals import read_intervals
from harness.score.pgscore import ScoreRow, write_scores
from harness.score.tables import HEADROOM_HINT, family_table, leaderboard, summary_table


def row(teacher: str, lang: str, pg: float, gain: float, *, ill: bool = False, **extra) -> ScoreRow:
    return ScoreRow(
        teacher=teacher, language=lang, student_family="fam", student_score=0.5,
        base_score=0.4, reference_score=0.6, gap=0.2, pgr=pg, z_score=0.0, pg_score=pg,
        pgr_ill_conditioned=ill, headroom_gain=gain, **extra,
    )  # fmt: skip


# a: best PG-Score; b and c tied; by headroom gain c is best.
ROWS = [
    row("org/a", "de", 0.60, 0.10), row("org/a", "es", 0.60, 0.10),
    row("org/b", "de", 0.40, 0.20), row("org/b", "es", 0.40, 0.20, ill=True),
    row("org/c", "de", 0.39, 0.30), row("org/c", "es", 0.39, 0.30),
]  # fmt: skip


def write_intervals(folder: Path, rows=ROWS) -> Path:
    """intervals.jsonl and ranks.json as harness.score.bootstrap writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for r in rows:
        line = {"teacher": r.teacher, "language": r.language, "student_family": r.student_family,
                "replicates": 1000, "seed": 0, "level": 0.95, "pairing": "paired"}  # fmt: skip
        for value in ("student_score", "pgr", "z_score", "pg_score", "headroom_gain"):
            point = getattr(r, value)
            line |= {value: point, f"{value}_lo": point - 0.09, f"{value}_hi": point + 0.03}
        lines.append(json.dumps(line))
    (folder / INTERVALS_FILE).write_text("\n".join(lines) + "\n")
    pg = {"rank": {"org/a": 1, "org/b": 2, "org/c": 2},
          "tied": {"org/a": False, "org/b": True, "org/c": True},
          "lo": {"org/a": 0.5, "org/b": 0.3, "org/c": 0.29},
          "hi": {"org/a": 0.7, "org/b": 0.5, "org/c": 0.49}}  # fmt: skip
    gain = {"rank": {"org/c": 1, "org/b": 2, "org/a": 3},
            "tied": {"org/a": False, "org/b": False, "org/c": False},
            "lo": {"org/a": 0.05, "org/b": 0.15, "org/c": 0.25},
            "hi": {"org/a": 0.15, "org/b": 0.25, "org/c": 0.35}}  # fmt: skip
    ranks = {
        "replicates": 1000,
        "values": {"pg_score": {"fam": pg}, "headroom_gain": {"fam": gain}},
    }
    (folder / RANKS_FILE).write_text(json.dumps(ranks))
    return folder


def _line(table: str, teacher: str) -> list[str]:
    line = next(x for x in table.splitlines() if x.startswith(f"| {teacher}"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_cells_show_intervals_and_tie_groups_share_a_rank(tmp_path):
    intervals = read_intervals(write_intervals(tmp_path), ROWS)
    table = family_table(ROWS, intervals=intervals)
    assert [h.strip() for h in table.splitlines()[0].split("|")[1:4]] == [
        "teacher",
        "rank",
        "avg PG-Score",
    ]
    assert _line(table, "org/a") == ["org/a", "1", "0.600 [0.50, 0.70]", "0.600 [0.51, 0.63]", "0.600 [0.51, 0.63]"]  # fmt: skip
    assert _line(table, "org/b")[1] == _line(table, "org/c")[1] == "=2"
    assert _line(table, "org/b")[4] == "0.400 [0.31, 0.43]†"  # the dagger stays
    summary = summary_table(ROWS, intervals=intervals)
    assert _line(summary, "org/b")[:3] == ["org/b", "=2", "0.400 [0.30, 0.50]†"]
    assert "rank" not in family_table(ROWS).splitlines()[0]  # no intervals: the old table


def test_sort_note_names_the_column_and_offers_headroom_where_pgr_is_ill(tmp_path):
    intervals = read_intervals(write_intervals(tmp_path), ROWS)
    board = leaderboard(ROWS, intervals=intervals, values=("pg_score",))
    note = "Sorted by PG-Score (mean over languages). It contains PGR, which is ill-conditioned in 1 of 6 rows here"  # fmt: skip
    assert note in board and HEADROOM_HINT in board
    assert "1000 replicates" in board and "not ordered apart in 95%" in board
    by_gain = leaderboard(ROWS, intervals=intervals, values=("pg_score",), sort="headroom")
    table = by_gain.split("### fam: PG-Score")[1]
    teachers = [
        line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| org/")
    ]
    assert teachers == ["org/c", "org/b", "org/a"]  # headroom gain order, PG-Score values
    assert [_line(table, t)[1] for t in teachers] == ["1", "2", "3"]  # headroom gain ranks
    assert "Sorted by headroom gain (mean over languages)." in table
    assert HEADROOM_HINT not in by_gain
    well = [r for r in ROWS if not r.pgr_ill_conditioned]
    assert "ill-conditioned" not in leaderboard(well)


def test_intervals_of_other_scores_are_ignored_with_a_warning(tmp_path, caplog):
    write_intervals(tmp_path)
    changed = [row("org/a", "de", 0.61, 0.10), *ROWS[1:]]
    with caplog.at_level(logging.WARNING):
        assert read_intervals(tmp_path, changed) is None
    assert "rerun the bootstrap" in caplog.text
    (tmp_path / "other").mkdir()
    assert read_intervals(tmp_path / "other") is None  # not bootstrapped: no intervals


def test_predicted_rows_are_shown_apart_and_never_ranked(tmp_path):
    predicted = [{"teacher": "org/new", "language": "de", "student_family": "fam",
                  "predicted": True, "target": "pg_score", "pg_score": 0.45, "pg_lo": 0.3,
                  "pg_hi": 0.6, "pgr": None, "z_score": 0.1}]  # fmt: skip
    intervals = read_intervals(write_intervals(tmp_path), ROWS)
    board = leaderboard(ROWS, intervals=intervals, predicted=predicted)
    measured, section = board.split("## Predicted scores (teachers without a trained student)")
    assert "org/new" not in measured
    assert "| org/new               | fam              | 0.450 [0.30, 0.60] |" in section
    assert "not ranked with the teachers above" in section


def test_protocol_is_named_under_the_title():
    board = leaderboard([row("org/a", "de", 0.6, 0.1, protocol="paper")])
    assert board.splitlines()[2] == "Protocol: `paper`."
    assert "Protocol" not in leaderboard(ROWS)


def test_cli_sorts_by_headroom_and_writes_the_intervals(tmp_path, capsys):
    write_scores(ROWS, tmp_path / "scores.jsonl")
    write_intervals(tmp_path)
    assert main(["leaderboard", str(tmp_path), "--sort", "headroom"]) == 0
    markdown = (tmp_path / "leaderboard.md").read_text()
    assert "| org/c     | 1      | 0.390 [0.29, 0.49]  | 0.390 [0.30, 0.42] |" in markdown
    assert "Sorted by headroom gain" in markdown and "[0.31, 0.43]†" in markdown
    assert "0.390 [0.30, 0.42]" in capsys.readouterr().out  # the terminal table too
    with pytest.raises(SystemExit):  # argparse refuses a sort that is not a choice
        main(["leaderboard", str(tmp_path), "--sort", "gain"])


def test_published_rows_carry_intervals_the_card_shows(tmp_path):
    from harness.publish.leaderboard import build_rows, check_conflicts, current_table, merge_rows

    intervals = read_intervals(write_intervals(tmp_path), ROWS)
    kwargs = {"datasets": [], "models": [], "results_repo": None, "harness_version": "0.1.0"}
    rows = build_rows(ROWS, intervals=intervals, **kwargs)
    b = next(r for r in rows if (r["teacher"], r["language"]) == ("org/b", "es"))
    assert (b["pg_score_lo"], b["rank_pg_score"], b["avg_pg_score_hi"]) == (pytest.approx(0.31), "=2", 0.5)  # fmt: skip
    assert b["rank_all_pg_score"] is None  # one family: no ranking over families
    card = current_table(rows)
    assert "| org/b     | =2     | 0.400 [0.30, 0.50]†" in card and "1000 replicates" in card
    plain = build_rows(ROWS, **kwargs)
    assert check_conflicts(plain, rows, force=False) == []  # intervals are not a new claim
    merged = merge_rows(rows, plain)  # re-publishing without a bootstrap keeps them
    assert all(r["rank_pg_score"] for r in merged)
