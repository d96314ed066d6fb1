"""The CLI's shared behaviour: --config files, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli.main import main


def test_config_file_supplies_required_flags_and_positionals(tmp_path: Path, capsys) -> None:
    (tmp_path / "data").mkdir()
    config = tmp_path / "c.yaml"
    config.write_text(f"org: my-org\ninputs: [{tmp_path / 'data'}]\ndry_run: true\n")
    code = main(["--config", str(config), "publish"])
    err = capsys.readouterr().err
    # Past argparse (org and inputs came from the file): the publish stage itself looked
    # at the (empty) input folder and said why it cannot publish it.
    assert code == 2
    assert f"{tmp_path / 'data'}: not a publish input" in err


def test_unknown_config_key_is_one_line(tmp_path: Path, capsys) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("registy: x\n")
    assert main(["--config", str(config), "teachers"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"polyglot-harness: error: --config {config}: unknown key 'registy' for teachers"


def test_command_line_overrides_the_file(tmp_path: Path, capsys) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("format: lm-eval\n")
    assert main(["--config", str(config), "teachers", "--format", "table"]) == 0
    assert "family" in capsys.readouterr().out  # the table, not lm_eval command lines


def test_malformed_registry_is_one_line(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "t.yaml"
    bad.write_text("teachers: {a: {id: x}\n")
    assert main(["teachers", "--registry", str(bad)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize(
    "argv", [["collect", "/no/such/dir"], ["score", "--extrinsic", "/no/such"]]
)
def test_missing_inputs_are_one_line(argv: list[str], capsys) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("polyglot-harness") and err.count("\n") == 1


def _scores(folder: Path) -> Path:
    from harness.score import ScoreRow, write_scores

    row = ScoreRow(
        teacher="org/teacher", language="de", student_family="f", student_score=0.5,
        base_score=0.4, reference_score=0.6, gap=0.2, pgr=0.5, z_score=0.1, pg_score=0.3,
        pgr_ill_conditioned=False, headroom_gain=0.1,
    )  # fmt: skip
    return write_scores([row], folder / "scores.jsonl")


def test_leaderboard_prints_and_writes_the_cost_table(tmp_path: Path, capsys) -> None:
    _scores(tmp_path)
    assert main(["leaderboard", str(tmp_path)]) == 0
    assert "GPU-hours" not in capsys.readouterr().out  # no costs.json, no cost table
    costs = {"org/teacher": {"gpu_h": 1.5, "cpu_h": 0.25, "wall_h": 0.75}}
    (tmp_path / "costs.json").write_text(json.dumps(costs))
    assert main(["leaderboard", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "GPU-hours to benchmark each teacher" in out
    assert out.index("PG-Score") < out.index("GPU-hours")  # after the leaderboard
    line = next(x for x in out.splitlines() if x.startswith("org/teacher") and "1.500" in x)
    assert "0.250" in line and "0.750" in line
    markdown = (tmp_path / "leaderboard.md").read_text()
    assert "## GPU-hours to benchmark each teacher" in markdown
    assert "| org/teacher | 1.500" in markdown


def test_malformed_costs_is_one_line(tmp_path: Path, capsys) -> None:
    _scores(tmp_path)
    (tmp_path / "costs.json").write_text('{"org/teacher": {"gpu_h": -1, "cpu_h": 0, "wall_h": 0}}')
    assert main(["leaderboard", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{tmp_path / 'costs.json'}" in err and "gpu_h" in err
    assert not (tmp_path / "leaderboard.md").exists()


@pytest.mark.parametrize(
    ("languages", "expected"),
    [
        ("fr", "no generation tasks for language(s) fr; available: ar, cs, de, es, id, ja"),
        ("de,fr", "POLYGLOT_HARNESS_LANGUAGE_PACKS"),
        (",", "no language code in ','"),
        (" , ,", "no language code in"),
    ],
)
def test_generate_bad_languages_are_one_line_before_any_work(
    languages: str, expected: str, tmp_path: Path, capsys
) -> None:
    argv = ["generate", "--model-args", "pretrained=unused", "--languages", languages,
            "--out", str(tmp_path / "runs")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("polyglot-harness: error: ") and err.count("\n") == 1
    assert expected in err
    assert not (tmp_path / "runs").exists()
