"""``--config`` works where the README shows it, and its values are checked like flags.

The README documents ``--config file.yaml`` for every subcommand; these run real
commands through :func:`harness.cli.main.main` with the file after the subcommand, and
check that a value of the wrong type ends in one line naming the key and the type
(argparse applies ``type=`` to string defaults only, so YAML lists and quoted booleans
used to reach the commands as they were).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli.main import SUBCOMMANDS, main


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.startswith("polyglot-harness: error: "), err
    assert err.count("\n") == 1, err  # one line, no usage block, no traceback
    return err.strip()


def _yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_every_subcommand_documents_config_after_its_name(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert "--config" in capsys.readouterr().out


@pytest.mark.parametrize("before", [True, False], ids=["before", "after"])
def test_config_is_read_before_and_after_the_subcommand(
    before: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(_yaml(tmp_path, "format: lm-eval\n"))
    argv = ["--config", config, "teachers"] if before else ["teachers", "--config", config]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("lm_eval ") or "\nlm_eval " in out  # the file's format, not the table


def test_config_after_score_supplies_its_required_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _yaml(tmp_path, f"extrinsic: {tmp_path / 'no-such-evals'}\n")
    assert main(["score", "--config", str(config), "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "no-such-evals" in err and err.count("\n") == 1  # the file's path was used


def test_flags_still_override_a_config_given_after_the_subcommand(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(_yaml(tmp_path, "format: lm-eval\n"))
    assert main(["teachers", "--config", config, "--format", "table"]) == 0
    assert "family" in capsys.readouterr().out


def test_a_config_key_named_config_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _yaml(tmp_path, "config: other.yaml\n")
    assert main(["teachers", "--config", str(config)]) == 2
    assert "unknown key 'config' for teachers" in _one_line_error(capsys)


def test_a_list_for_a_whole_number_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _yaml(tmp_path, f"data: {tmp_path / 'data'}\nlimit: [1, 2]\n")
    assert main(["--config", str(config), "intrinsic"]) == 2
    err = _one_line_error(capsys)
    assert err.endswith(f"--config {config}: 'limit' must be a whole number, not a list")


def test_text_for_a_number_is_one_line_not_a_usage_block(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _yaml(tmp_path, f"extrinsic: {tmp_path}\ngap_k: lots\n")
    assert main(["--config", str(config), "score"]) == 2
    assert "'gap_k' must be a number, not 'lots'" in _one_line_error(capsys)


def test_a_value_outside_the_choices_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _yaml(tmp_path, "format: csv\n")
    assert main(["--config", str(config), "teachers"]) == 2
    assert "'format' must be one of table, lm-eval, not 'csv'" in _one_line_error(capsys)


def test_a_mapping_for_a_string_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _yaml(tmp_path, f"runs: {tmp_path}\nteacher: {{name: x}}\n")
    assert main(["--config", str(config), "collect"]) == 2
    assert "'teacher' must be a string, not a mapping" in _one_line_error(capsys)


@pytest.mark.parametrize("value", ['"maybe"', "1", "[true]"])
def test_a_non_boolean_for_a_switch_is_one_line(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _yaml(tmp_path, f"model_args: pretrained=x\nno_chat_template: {value}\n")
    assert main(["--config", str(config), "generate"]) == 2
    assert "'no_chat_template' must be true or false" in _one_line_error(capsys)


@pytest.mark.parametrize(("value", "prints_example"), [('"yes"', True), ('"No"', False),
                                                       ('"FALSE"', False), ("true", True)])  # fmt: skip
def test_quoted_booleans_mean_what_they_say(
    value: str, prints_example: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _yaml(tmp_path, f"example: {value}\n")
    code = main(["--config", str(config), "run"])
    captured = capsys.readouterr()
    if prints_example:
        assert code == 0 and "teachers:" in captured.out
    else:  # "No" is false, not a non-empty (truthy) string: no example, and no grid given
        assert code == 2 and "give a grid file" in captured.err


def test_model_args_path_that_does_not_exist_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-model"
    argv = ["generate", "--model-args", f"pretrained={missing},api_key=sk-secret-123"]
    assert main([*argv, "--out", str(tmp_path / "runs")]) == 2
    err = _one_line_error(capsys)
    assert f"pretrained={missing}: no such file or folder" in err
    assert "sk-secret-123" not in err  # only the path is named, never the other args
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_generate_reads_list_and_quoted_boolean_values_after_the_subcommand(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """languages: [de, es] means de,es and no_chat_template: "false" means false."""
    out = tmp_path / "runs"
    config = _yaml(
        tmp_path,
        f"model_args: pretrained={tiny_model_dir},dtype=float32\n"
        "languages: [de, es]\nstrategies: [respond]\nlimit: 1\nmax_gen_toks: 4\n"
        f'batch_size: 4\ndevice: cpu\nno_chat_template: "false"\nout: {out}\n',
    )
    assert main(["generate", "--config", str(config)]) == 0, capsys.readouterr().err
    samples = sorted(out.rglob("samples_polyglot_*.jsonl"))
    assert sorted(p.name.split("_")[3] for p in samples) == ["de", "es"]
    for path in samples:
        sample = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
        prompt = sample["arguments"]["gen_args_0"]["arg_0"]
        assert prompt.startswith("<|im_start|>system\n")  # the chat template was applied
