"""The PG-Score metric pushed as a Space to the local Hub, read back with the real client."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import __version__
from harness.cli.main import main
from harness.errors import ConfigError
from harness.metrics import path
from harness.publish.metric_space import MetricSpaceConfig, publish_metric_space

SHIPPED = Path(path("pg_score"))


def test_metric_space_is_a_gradio_space_evaluate_can_load(
    hub_api, hub_token: str, hub_repo_id: str, tmp_path: Path
) -> None:
    import evaluate
    from huggingface_hub import snapshot_download

    config = MetricSpaceConfig(repo_id=hub_repo_id, retry_delay=0.05)
    sha = publish_metric_space(config, token=hub_token)
    info = hub_api.space_info(hub_repo_id)
    assert info.sdk == "gradio" and info.private is True and info.sha == sha
    assert {"evaluate", "metric"} <= set(info.card_data.tags)
    files = set(hub_api.list_repo_files(hub_repo_id, repo_type="space"))
    assert {"pg_score.py", "README.md", "app.py", "requirements.txt"} <= files
    assert not any(f.endswith(".pyc") or "__pycache__" in f for f in files)
    local = Path(
        snapshot_download(
            hub_repo_id, repo_type="space", local_dir=tmp_path / "space", token=hub_token
        )
    )
    for name in ("pg_score.py", "README.md", "app.py"):
        assert (local / name).read_bytes() == (SHIPPED / name).read_bytes()
    requirements = (local / "requirements.txt").read_text().splitlines()
    assert f"polyglot-harness=={__version__}" in requirements and "evaluate>=0.4" in requirements
    # What the Hub now holds is a working module: load it from the downloaded folder.
    pg = evaluate.load(str(local / "pg_score.py"), config_name="z")
    out = pg.compute(teacher=["a"], language=["de"], family=["s"], student=[0.4],
                     base=[0.3], reference=[0.5], z_score=[0.1])  # fmt: skip
    assert out["pg_score"] == pytest.approx([(0.5 + 0.1) / 2])
    # Unchanged module: no new commit.
    assert publish_metric_space(config, token=hub_token) == sha


def test_cli_pushes_only_the_metric_space_without_inputs(
    hub_api, hub_token: str, hub_repo_id: str, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("HF_TOKEN", hub_token)
    assert main(["publish", "--metric-space", hub_repo_id, "--public", "--retries", "2"]) == 0
    assert f"metric space {hub_repo_id} @ " in capsys.readouterr().out
    assert hub_api.space_info(hub_repo_id).private is False


def test_cli_dry_run_lists_the_space_files(capsys) -> None:
    assert main(["publish", "--metric-space", "org/pg-score", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would publish space org/pg-score" in out
    assert all(f"    {name}" in out for name in ("pg_score.py", "README.md", "requirements.txt"))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["publish"], "publish needs input folders (data/ scores/ ...) or --metric-space"),
        (["publish", "--metric-space", "no-slash"], "--metric-space must be ORG/NAME"),
    ],
)
def test_bad_metric_space_input_is_one_line(argv: list[str], message: str, capsys) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and message in err


def test_config_refuses_a_bad_repo_id() -> None:
    with pytest.raises(ConfigError, match="got 'a/b/c'"):
        MetricSpaceConfig(repo_id="a/b/c")
