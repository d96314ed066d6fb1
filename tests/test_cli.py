"""The CLI's shared behaviour: --config files, one-line errors."""

from __future__ import annotations

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
