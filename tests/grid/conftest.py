"""A small real grid: the bundled example cut to one language, with small budgets.

Every grid test runs real jobs (lm-eval generation on SmolLM2 at two sampling settings,
TRL training, lm-eval evaluation) through a real executor; only the sizes are small.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.grid.spec import GridSpec, example_path, parse_grid


def small_grid(out: Path, **changes: Any) -> dict[str, Any]:
    """The example grid for one language (de) and two teachers, with budgets a test can afford."""
    data = yaml.safe_load(example_path().read_text(encoding="utf-8"))
    data = copy.deepcopy(data)
    data.update(out=str(out), languages=["de"], retries=1)
    data["teachers"] = data["teachers"][:2]  # SmolLM2 at the paper's sampling and at T 2.0
    data["generation"].update(n_docs=2, max_gen_toks=64)
    data["students"][0]["train"].update(max_steps=8, save_steps=4, logging_steps=4)
    data["executor_options"] = {"workers": 2}
    data.update(changes)
    return data


def spec_of(data: dict[str, Any]) -> GridSpec:
    return parse_grid(data, source="test-grid")


def records(out: Path, name: str = "jobs.jsonl") -> list[dict[str, Any]]:
    path = out / name
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def scores_of(out: Path) -> dict[tuple[str, str, str], dict[str, Any]]:
    rows = [json.loads(x) for x in (out / "scores" / "scores.jsonl").read_text().splitlines()]
    return {(r["teacher"], r["language"], r["student_family"]): r for r in rows}


def wait_for(predicate, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture(scope="session")
def finished_grid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small grid run to the end once, uninterrupted, on the local executor."""
    from harness.grid.driver import run_grid

    out = tmp_path_factory.mktemp("grid") / "out"
    report = run_grid(spec_of(small_grid(out)), poll_interval=0.2)
    assert report.ok, (report.failed, report.blocked)
    return out
