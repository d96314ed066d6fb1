"""The leaderboard Space: its tables, its two data sources, and the page a browser renders."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from publish_demo import FAMILY, TEACHERS, costed_scores, score_rows

from harness.publish import RepoNames

APP = Path(__file__).resolve().parents[2] / "leaderboard" / "app.py"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--virtual-time-budget=15000",
]  # fmt: skip


@pytest.fixture(scope="module")
def app_module():
    spec = importlib.util.spec_from_file_location("polyglot_leaderboard_app", APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tables_from_local_scores_and_from_the_published_dataset(
    app_module, demo_run, published, hub_token
):
    local = app_module.load_rows(demo_run["scores"])
    repo = RepoNames(published["org"]).leaderboard
    hub = app_module.load_rows(dataset=repo, token=hub_token)
    assert len(local) == len(hub) == 3
    assert all(r["dataset_revision"] for r in hub)
    overall = app_module.overall_table(hub, endpoint="https://hub.example")
    assert list(overall["Teacher"]) == list(TEACHERS)  # best PG-Score first
    assert overall.loc[0, "PGR ill-conditioned"] == "† 1/2"
    assert "https://hub.example/datasets/" in overall.loc[0, "Data"]
    grid = app_module.language_table(app_module.filter_rows(hub, family="tiny"))
    assert grid.loc[0, "fr"].endswith("†") and not grid.loc[0, "de"].endswith("†")
    only_fr = app_module.filter_rows(hub, language="fr")
    assert [r["teacher"] for r in only_fr] == [TEACHERS[0]]


def test_overall_table_has_gpu_hours(app_module, demo_run, published, hub_token, tmp_path):
    from harness.publish import PublishConfig, publish

    folder = costed_scores(demo_run["scores"], tmp_path / "scores")
    org = f"space-cost-{uuid.uuid4().hex[:6]}"
    publish(PublishConfig(org=org, inputs=[str(folder)], space=False), token=hub_token)
    hub = app_module.load_rows(dataset=RepoNames(org).leaderboard, token=hub_token)
    for rows in (hub, app_module.load_rows(folder)):  # published, and local with costs.json
        overall = app_module.overall_table(rows).set_index("Teacher")
        assert list(overall.columns).index("GPU-hours") == list(overall.columns).index("Languages") - 1  # fmt: skip
        assert overall.loc[TEACHERS[0], "GPU-hours"] == 0.123
        assert math.isnan(overall.loc[TEACHERS[1], "GPU-hours"])  # blank: not measured
    old = app_module.load_rows(dataset=RepoNames(published["org"]).leaderboard, token=hub_token)
    assert app_module.overall_table(old)["GPU-hours"].isna().all()  # published before costs


NEW_TEACHER = "org/new-teacher"


def bootstrapped_scores(folder: Path) -> Path:
    """The demo scores with the bootstrap's files (both teachers tied) and a predicted row."""
    from harness.score import write_scores

    rows = score_rows()
    write_scores(rows, folder / "scores.jsonl")
    lines = []
    for r in rows:
        line = {"teacher": r.teacher, "language": r.language, "student_family": r.student_family,
                "replicates": 1000, "seed": 0, "level": 0.95}  # fmt: skip
        for value in ("student_score", "pgr", "z_score", "pg_score", "headroom_gain"):
            v = getattr(r, value)
            line |= {value: v, f"{value}_lo": round(v - 0.1, 3), f"{value}_hi": round(v + 0.1, 3)}
        lines.append(json.dumps(line) + "\n")
    (folder / "intervals.jsonl").write_text("".join(lines))
    tied = {"rank": dict.fromkeys(TEACHERS, 1), "tied": dict.fromkeys(TEACHERS, True),
            "lo": {TEACHERS[0]: 0.41, TEACHERS[1]: 0.05}, "hi": {TEACHERS[0]: 1.2, TEACHERS[1]: 0.63}}  # fmt: skip
    ranks = {"values": {"pg_score": {FAMILY: tied}, "headroom_gain": {FAMILY: tied}}}
    (folder / "ranks.json").write_text(json.dumps(ranks))
    predicted = {"teacher": NEW_TEACHER, "language": "de", "student_family": FAMILY,
                 "predicted": True, "target": "pg_score", "pg_score": 0.45, "pg_lo": 0.3,
                 "pg_hi": 0.6, "z_score": 0.1}  # fmt: skip
    (folder / "predicted.jsonl").write_text(json.dumps(predicted) + "\n")
    return folder


def test_local_intervals_tie_groups_and_predicted_rows(app_module, tmp_path):
    rows = app_module.load_rows(bootstrapped_scores(tmp_path))
    overall = app_module.overall_table(rows)
    assert list(overall.columns[:2]) == ["Rank", "Teacher"]
    assert list(overall["Teacher"]) == [*TEACHERS, f"{NEW_TEACHER} (predicted)"]
    assert list(overall["Rank"]) == ["=1", "=1", ""]  # a tie group; predicted: never ranked
    assert overall.loc[0, "PG-Score 95% CI"] == "[0.41, 1.20]"
    assert overall.loc[2, "PG-Score"] == 0.45 and overall.loc[2, "PG-Score 95% CI"] == ""
    grid = app_module.language_table(rows)
    assert grid.loc[0, "de"] == "0.425 [0.33, 0.53]" and grid.loc[0, "fr"] == "1.625 [1.52, 1.73]†"
    assert grid.loc[0, "avg PG-Score"] == "=1: 1.025 [0.41, 1.20]†"
    assert grid.loc[2, "Teacher"] == f"{NEW_TEACHER} (predicted)" and grid.loc[2, "de"] == "0.450 [0.30, 0.60]"  # fmt: skip
    picked = app_module.overall_table(app_module.filter_rows(rows, language="de"), ranked=False)
    assert set(picked["Rank"]) == {""}  # ranks describe the mean over all languages
    stale = json.loads((tmp_path / "intervals.jsonl").read_text().splitlines()[0])
    stale["pg_score"] += 0.01
    (tmp_path / "intervals.jsonl").write_text(json.dumps(stale) + "\n")
    assert "pg_score_lo" not in app_module.load_rows(tmp_path)[0]  # other scores: ignored


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(url: str, process: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited early: {process.stdout.read()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def _chromium(url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, url],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install chromium)")  # fmt: skip
def test_space_renders_the_published_leaderboard_in_chromium(published, hub_token, tmp_path):
    pytest.importorskip("gradio")
    repo = RepoNames(published["org"]).leaderboard
    port = _free_port()
    env = {**os.environ, "HF_TOKEN": hub_token, "GRADIO_ANALYTICS_ENABLED": "False"}
    process = subprocess.Popen(
        [sys.executable, str(APP), "--dataset", repo, "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_for(url, process)
        dom = _chromium(url, tmp_path / "profile-dom", "--dump-dom").stdout
        shot = tmp_path / "leaderboard.png"
        _chromium(url, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1280,900")
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert "<table" in dom and "Per-language breakdown" in dom
    for text in (*TEACHERS, "PGR ill-conditioned", "† 1/2", "1.625†", "0.425"):
        assert text in dom, text
    assert hub_token not in dom
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    if os.environ.get("POLYGLOT_SAVE_SCREENSHOT") == "1":
        target = Path(__file__).resolve().parents[2] / "docs" / "leaderboard.png"
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, target)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install chromium)")  # fmt: skip
def test_space_renders_intervals_tie_groups_and_predicted_rows_in_chromium(tmp_path):
    pytest.importorskip("gradio")
    folder = bootstrapped_scores(tmp_path / "scores")
    port = _free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    process = subprocess.Popen(
        [sys.executable, str(APP), "--scores", str(folder), "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_for(url, process)
        dom = _chromium(url, tmp_path / "profile-dom", "--dump-dom").stdout
    finally:
        process.terminate()
        process.wait(timeout=20)
    for text in ("Rank", "=1", "PG-Score 95% CI", "[0.41, 1.20]", "0.425 [0.33, 0.53]",
                 f"{NEW_TEACHER} (predicted)", "not ordered apart in 95 %"):  # fmt: skip
        assert text in dom, text
