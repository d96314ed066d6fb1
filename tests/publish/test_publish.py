"""Publish a real demo run into the local Hub and read it back with the real clients."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

import pytest
from publish_demo import COSTS, FAMILY, LANGS, TEACHERS, costed_scores, inputs_of

from harness.errors import ConfigError, HubError
from harness.protocol import resolve
from harness.publish import PublishConfig, RepoNames, publish
from harness.publish.cards import eval_results, protocol_record


def _commits(api, repo_id: str, repo_type: str) -> int:
    return len(api.list_repo_commits(repo_id, repo_type=repo_type))


def _all_repos(names: RepoNames) -> list[tuple[str, str]]:
    return [
        (names.dataset(TEACHERS[0]), "dataset"),
        (names.dataset(TEACHERS[1]), "dataset"),
        (names.student(f"{FAMILY}--org__tiny-teacher--de"), "model"),
        (names.results, "dataset"),
        (names.leaderboard, "dataset"),
        (names.leaderboard, "space"),
    ]


def test_dry_run_lists_everything_and_sends_no_request(demo_run, hub_server, capsys):
    from harness.cli.main import main

    hub_server.clear_requests()
    report = publish(PublishConfig(org="dry", inputs=inputs_of(demo_run), dry_run=True))
    assert hub_server.requests == []
    kinds = [(p.repo_type, p.repo_id) for p in report.planned]
    assert kinds[0] == ("dataset", "dry/polyglot-data-org-other-teacher")
    assert ("space", "dry/polyglot-leaderboard") in kinds
    student = next(p for p in report.planned if p.repo_type == "model")
    assert "model.safetensors" in student.files
    assert not any("checkpoint" in f or "results_" in f for f in student.files)
    assert main(["publish", "--org", "dry", "--dry-run", *inputs_of(demo_run)]) == 0
    out = capsys.readouterr().out
    assert "would publish 6 repos (private)" in out and "leaderboard.jsonl" in out
    assert "dataset dry/polyglot-data-org-tiny-teacher: 3 files, 24 rows" in out
    assert hub_server.requests == []


def test_datasets_load_per_language_with_a_full_card(published, hub_api, hub_token):
    from datasets import load_dataset

    from harness.schema import sft_features

    names = RepoNames(published["org"])
    repo = names.dataset(TEACHERS[0])
    for lang in LANGS:
        ds = load_dataset(repo, lang, split="train", token=hub_token)
        assert len(ds) == 12 and set(ds["language"]) == {lang} and ds[0]["teacher"] == TEACHERS[0]
        assert ds.features == sft_features()
    info = hub_api.dataset_info(repo)
    card = info.card_data
    assert info.private is True
    assert card.language == ["de", "fr"] and card.license == "other"
    assert card.task_categories == ["text-generation"] and card.size_categories == ["n<1K"]
    assert card.source_datasets == ["openai/gsm8k", "original"]
    assert {c["config_name"] for c in card.configs} == {"de", "fr"}
    assert card.polyglot["teacher"] == TEACHERS[0]
    readme = Path(hub_api.hf_hub_download(repo, "README.md", repo_type="dataset")).read_text()
    for text in ("## Generation", "## Validity", "## Intrinsic quality", "wrong_language:",
                 "translate (8 rows)", "0.610", "0.950", "do_sample"):  # fmt: skip
        assert text in readme, text
    # The demo data predates protocols: the card says so rather than guessing one.
    assert card.polyglot["protocol"] == {"de": None, "fr": None}
    assert "## Protocol" in readme and "No protocol recorded" in readme


def test_student_loads_and_its_card_links_the_dataset(published, hub_api, hub_token, demo_run):
    from transformers import AutoModelForCausalLM

    names = RepoNames(published["org"])
    repo = names.student(demo_run["run"].name)
    model = AutoModelForCausalLM.from_pretrained(repo, token=hub_token)
    assert model.config.num_hidden_layers >= 1
    files = hub_api.list_repo_files(repo)
    assert "polyglot_run.json" in files and "model.safetensors" in files
    assert not any(f.startswith(("checkpoints/", "evals/")) for f in files)
    card = hub_api.model_info(repo).card_data
    dataset_repo = names.dataset(TEACHERS[0])
    assert card.datasets == [dataset_repo] and card.language == ["de"]
    assert card.polyglot["teacher"] == TEACHERS[0] and card.polyglot["student_family"] == FAMILY
    assert card.polyglot["dataset_revision"] == hub_api.dataset_info(dataset_repo).sha
    assert card.polyglot["hyperparameters"]["max_steps"] == 2
    # The card carries whatever protocol the trainer's sidecar recorded, in full.
    sidecar = json.loads((demo_run["run"] / "polyglot_run.json").read_text())
    assert card.polyglot["protocol"] == protocol_record(sidecar.get("protocol"))
    assert "Protocol" in Path(hub_api.hf_hub_download(repo, "README.md")).read_text()
    results = {(r.dataset_type, r.metric_type): r.metric_value for r in card.eval_results}
    assert results[("mgsm", "accuracy")] == pytest.approx(0.42)
    assert results[(names.leaderboard, "student_score")] == pytest.approx(0.42)
    assert "model-index" in Path(hub_api.hf_hub_download(repo, "README.md")).read_text()


def test_student_repo_leaves_out_the_pickled_training_args(published, hub_api, demo_run):
    run = demo_run["run"]
    assert (run / "training_args.bin").is_file()  # the trainer wrote it next to the model
    files = hub_api.list_repo_files(RepoNames(published["org"]).student(run.name))
    assert "model.safetensors" in files
    assert not any(f.endswith("training_args.bin") for f in files)
    dry = publish(PublishConfig(org="dry", inputs=inputs_of(demo_run), dry_run=True))
    student = next(p for p in dry.planned if p.repo_type == "model")
    assert "training_args.bin" not in student.files


def test_results_use_lm_eval_tracker_layout(published, hub_api, hub_token, demo_run):
    from datasets import load_dataset

    names = RepoNames(published["org"])
    files = hub_api.list_repo_files(names.results, repo_type="dataset")
    student = f"{published['org']}__polyglot-student-tiny-org-tiny-teacher-de"
    assert f"{student}/results_2025-06-01T10-00-00.000001.json" in files
    assert f"{student}/samples_polyglot_eval_mgsm_de_2025-06-01T10-00-00.000001.jsonl" in files
    assert "org__tiny-base/results_2025-06-01T10-00-00.000001.json" in files
    configs = {c["config_name"]: c for c in hub_api.dataset_info(names.results).card_data.configs}
    assert {
        f"{student}__results",
        f"{student}__polyglot_eval_mgsm_de",
        "org__tiny-base__results",
    } <= set(configs)
    assert {"split": "latest", "path": ["**/results_2025-06-01T10-00-00.000001.json"]} in configs[
        f"{student}__results"
    ]["data_files"]
    details = load_dataset(
        names.results, f"{student}__polyglot_eval_mgsm_de", split="latest", token=hub_token
    )
    assert details[0]["target"] == "2"


def test_leaderboard_rows_link_exact_revisions(published, hub_api, hub_token, demo_run):
    from datasets import load_dataset

    names = RepoNames(published["org"])
    rows = load_dataset(names.leaderboard, split="train", token=hub_token).to_list()
    assert len(rows) == 3
    by_key = {(r["teacher"], r["language"]): r for r in rows}
    first = by_key[(TEACHERS[0], "de")]
    assert first["dataset_revision"] == hub_api.dataset_info(names.dataset(TEACHERS[0])).sha
    student = names.student(demo_run["run"].name)
    assert first["model_repo"] == student and first["model_revision"] == hub_api.model_info(student).sha  # fmt: skip
    assert by_key[(TEACHERS[0], "fr")]["pgr_ill_conditioned"] is True
    assert by_key[(TEACHERS[1], "de")]["model_repo"] is None  # no student trained for it
    readme = Path(hub_api.hf_hub_download(names.leaderboard, "README.md", repo_type="dataset"))
    text = readme.read_text()
    assert "# Polyglot leaderboard" in text and "org/tiny-teacher" in text and "†" in text
    space = hub_api.space_info(names.leaderboard)
    assert space.sdk == "gradio" and space.private is True
    files = hub_api.list_repo_files(names.leaderboard, repo_type="space")
    assert {"app.py", "requirements.txt", "README.md", "space_config.json"} <= set(files)


def test_token_never_leaves_in_files_requests_or_logs(published, hub_api, hub_server, hub_token, demo_run, caplog, capsys):  # fmt: skip
    from huggingface_hub import snapshot_download

    names = RepoNames(published["org"])
    for repo_id, repo_type in _all_repos(names):
        folder = Path(snapshot_download(repo_id, repo_type=repo_type, token=hub_token))
        for file in folder.rglob("*"):
            if file.is_file():
                assert hub_token.encode() not in file.read_bytes(), file
    assert hub_server.requests_mentioning(hub_token) == []
    with caplog.at_level(logging.DEBUG):
        publish(published["config"], token=hub_token)  # a re-publish, logged at DEBUG
    captured = capsys.readouterr()
    assert hub_token not in caplog.text + captured.out + captured.err


def test_republish_is_idempotent_through_the_cli(published, hub_api, hub_token, demo_run, monkeypatch, capsys):  # fmt: skip
    from harness.cli.main import main

    names = RepoNames(published["org"])
    before = {repo: _commits(hub_api, *repo) for repo in _all_repos(names)}
    rows_before = hub_api.hf_hub_download(names.leaderboard, "leaderboard.jsonl", repo_type="dataset")  # fmt: skip
    rows_before = Path(rows_before).read_text()
    monkeypatch.setenv("HF_TOKEN", hub_token)
    assert main(["publish", "--org", published["org"], *inputs_of(demo_run)]) == 0
    assert "leaderboard: 3 rows" in capsys.readouterr().out
    after = {repo: _commits(hub_api, *repo) for repo in _all_repos(names)}
    assert after == before
    rows_after = hub_api.hf_hub_download(names.leaderboard, "leaderboard.jsonl", repo_type="dataset")  # fmt: skip
    assert Path(rows_after).read_text() == rows_before


def test_changed_row_needs_force(demo_run, hub_api, hub_server, hub_token, tmp_path):
    from harness.score import read_scores, write_scores

    org = f"force-{uuid.uuid4().hex[:6]}"
    scores_only = [str(demo_run["scores"])]
    publish(PublishConfig(org=org, inputs=scores_only, space=False), token=hub_token)
    repo = RepoNames(org).leaderboard
    commits = _commits(hub_api, repo, "dataset")
    changed = [
        (r if r.language != "fr" else type(r)(**{**r.__dict__, "student_score": 0.5}))
        for r in read_scores(demo_run["scores"])
    ]
    write_scores(changed, tmp_path / "scores" / "scores.jsonl")
    config = PublishConfig(org=org, inputs=[str(tmp_path / "scores")], space=False)
    hub_server.clear_requests()
    with pytest.raises(HubError) as err:
        publish(config, token=hub_token)
    message = str(err.value)
    assert "\n" not in message and "'org__tiny-teacher', 'fr', 'tiny'" in message
    assert "--force" in message
    assert [r for r in hub_server.requests if r.method not in ("GET", "HEAD")] == []  # no write
    config.force = True
    report = publish(config, token=hub_token)
    assert len(report.replaced) == 1 and _commits(hub_api, repo, "dataset") == commits + 1
    rows = hub_api.hf_hub_download(repo, "leaderboard.jsonl", repo_type="dataset")
    fr = [json.loads(x) for x in Path(rows).read_text().splitlines() if '"fr"' in x]
    assert len(fr) == 1 and fr[0]["student_score"] == 0.5


def _published_rows(hub_api, repo: str) -> dict[tuple[str, str], dict]:
    path = hub_api.hf_hub_download(repo, "leaderboard.jsonl", repo_type="dataset")
    rows = [json.loads(x) for x in Path(path).read_text().splitlines()]
    return {(r["teacher"], r["language"]): r for r in rows}


def test_measured_costs_ride_on_rows_and_change_without_force(demo_run, hub_api, hub_token, tmp_path):  # fmt: skip
    org = f"cost-{uuid.uuid4().hex[:6]}"
    repo = RepoNames(org).leaderboard

    def push(costs: dict | None, name: str):
        folder = costed_scores(demo_run["scores"], tmp_path / name, costs)
        return publish(PublishConfig(org=org, inputs=[str(folder)], space=False), token=hub_token)

    push(COSTS, "first")
    rows = _published_rows(hub_api, repo)
    measured = rows[(TEACHERS[0], "de")]
    assert (measured["gpu_hours"], measured["cpu_hours"], measured["wall_hours"]) == (0.1235, 1.5, 0.25)  # fmt: skip
    assert rows[(TEACHERS[0], "fr")]["gpu_hours"] == 0.1235
    assert rows[(TEACHERS[1], "de")]["gpu_hours"] is None  # no entry: not measured, not free
    readme = Path(hub_api.hf_hub_download(repo, "README.md", repo_type="dataset")).read_text()
    assert "## GPU-hours to benchmark each teacher" in readme
    cost_lines = [x for x in readme.split("## GPU-hours")[1].splitlines() if x.startswith("| org")]
    assert len(cost_lines) == 1 and cost_lines[0].startswith(f"| {TEACHERS[0]}")
    assert "0.123" in cost_lines[0] and "1.500" in cost_lines[0]
    commits = _commits(hub_api, repo, "dataset")
    assert push(COSTS, "same").leaderboard_revision == hub_api.dataset_info(repo).sha
    assert _commits(hub_api, repo, "dataset") == commits  # unchanged: no commit
    new = {TEACHERS[0]: {"gpu_h": 2.0, "cpu_h": 3.0, "wall_h": 1.0}}
    report = push(new, "remeasured")  # no --force: hours are measurements, not scores
    assert report.replaced == [] and _commits(hub_api, repo, "dataset") == commits + 1
    assert _published_rows(hub_api, repo)[(TEACHERS[0], "de")]["gpu_hours"] == 2.0
    push(None, "no-costs")  # the same scores without costs.json keep the published hours
    assert _published_rows(hub_api, repo)[(TEACHERS[0], "fr")]["gpu_hours"] == 2.0
    assert _commits(hub_api, repo, "dataset") == commits + 1


def test_malformed_costs_stop_publish_before_any_request(demo_run, hub_server, tmp_path):
    folder = costed_scores(demo_run["scores"], tmp_path / "scores", {TEACHERS[0]: {"gpu_h": float("nan")}})  # fmt: skip
    hub_server.clear_requests()
    for dry_run in (True, False):
        with pytest.raises(ConfigError) as err:
            publish(PublishConfig(org="x", inputs=[str(folder)], dry_run=dry_run), token="t")
        assert str(err.value).startswith(str(folder / "costs.json")) and "\n" not in str(err.value)
    assert hub_server.requests == []


def test_transient_503_is_retried(hub_server, hub_token):
    from harness.publish import RetryPolicy
    from harness.publish.session import open_session

    session = open_session("retry", token=hub_token, policy=RetryPolicy(base_delay=0.01))
    repo = f"retry/r-{uuid.uuid4().hex[:6]}"
    session.ensure_repo(repo, "dataset")
    hub_server.clear_requests()
    hub_server.fail_next(2, 503, method="POST", path_contains="/commit/")
    sha = session.commit(repo, "dataset", {"a.txt": b"hello"}, "add a")
    statuses = [r.status for r in hub_server.requests if "/commit/" in r.url]
    assert statuses == [503, 503, 200] and sha == session.head(repo, "dataset")


def test_transient_503_on_every_try_is_one_line_error_after_the_last(hub_server, hub_token, caplog):
    from harness.publish import RetryPolicy
    from harness.publish.session import open_session

    session = open_session("retry", token=hub_token, policy=RetryPolicy(attempts=3, base_delay=0.01))  # fmt: skip
    repo = f"retry/r-{uuid.uuid4().hex[:6]}"
    session.ensure_repo(repo, "dataset")
    hub_server.clear_requests()
    hub_server.fail_next(3, 503, method="POST", path_contains="/commit/")  # one per try
    with caplog.at_level(logging.WARNING), pytest.raises(HubError) as err:
        session.commit(repo, "dataset", {"a.txt": b"hello"}, "add a")
    assert [r.status for r in hub_server.requests if "/commit/" in r.url] == [503, 503, 503]
    assert err.value.status == 503 and repo in str(err.value) and "\n" not in str(err.value)
    assert err.value.__cause__ is None and hub_token not in str(err.value) + caplog.text
    assert [m for m in caplog.messages if "retrying" in m][-1].endswith("(2/2)")


def test_forbidden_and_missing_are_one_line_hub_errors(demo_run, hub_server, hub_token, caplog):
    from harness.publish.session import open_session

    reader = f"hf_read_{uuid.uuid4().hex}"
    hub_server.add_token(reader, role="read")
    config = PublishConfig(org="nope", inputs=[str(demo_run["data"])], retries=1)
    with pytest.raises(HubError) as err:
        publish(config, token=reader)
    message = str(err.value)
    assert "\n" not in message and "nope/polyglot-data-org-other-teacher" in message
    assert "403" in message or "write" in message
    assert reader not in message and reader not in caplog.text
    assert err.value.__cause__ is None and err.value.status == 403
    session = open_session("nope", token=hub_token)
    with pytest.raises(HubError) as missing:
        session.head("nope/does-not-exist", "model")
    assert missing.value.status == 404 and "\n" not in str(missing.value)
    assert "nope/does-not-exist" in str(missing.value)


def test_missing_token_is_a_clear_error(demo_run, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(HubError, match="HF_TOKEN"):
        publish(PublishConfig(org="x", inputs=[str(demo_run["data"])]), token=None)


def test_versions_sort_as_versions_not_strings() -> None:
    from harness.publish.leaderboard import version_key

    assert version_key("0.10.0") > version_key("0.9.0")
    assert version_key("1.0.0") > version_key("1.0.0rc1")
    assert version_key("not a version") < version_key("0.0.1")


def _record_protocol(parquet: Path, record: object) -> None:
    """What collect leaves in a dataset's parquet metadata: its caps and its protocol."""
    import pyarrow.parquet as pq

    from harness.collect import METADATA_KEY

    table = pq.read_table(parquet)
    meta = dict(table.schema.metadata or {})
    meta[METADATA_KEY] = json.dumps({"caps": [], "protocol": record}).encode()
    pq.write_table(table.replace_schema_metadata(meta), parquet)


def test_cards_state_the_protocol_with_its_corrections_and_deviations(
    demo_run, hub_api, hub_token, tmp_path
):
    """de collected under the paper's protocol with the demo's small limits, fr corrected;
    the base model evaluated under paper+greedy_mgsm (its manifest says so)."""
    import shutil

    from harness.evaluate.run import MANIFEST
    from harness.schema import DATA_FILE

    data = tmp_path / "data"
    shutil.copytree(demo_run["data"] / "org__tiny-teacher", data / "org__tiny-teacher")
    deviations = {"documents_per_strategy": 2, "max_gen_toks": 128}
    _record_protocol(data / "org__tiny-teacher" / "de" / DATA_FILE,
                     resolve("paper").record(deviations))  # fmt: skip
    _record_protocol(data / "org__tiny-teacher" / "fr" / DATA_FILE, resolve("corrected").record())
    evals = tmp_path / "evals"
    shutil.copytree(demo_run["evals"], evals)
    (evals / MANIFEST).write_text(json.dumps({"results_dir": "org__tiny-base",
                                              "protocol": "paper+greedy_mgsm"}))  # fmt: skip
    org = f"proto-{uuid.uuid4().hex[:8]}"
    publish(PublishConfig(org=org, inputs=[str(data), str(evals)], retry_delay=0.05), token=hub_token)  # fmt: skip
    names = RepoNames(org)
    repo = names.dataset(TEACHERS[0])
    protocols = hub_api.dataset_info(repo).card_data.polyglot["protocol"]
    assert protocols["de"] == {"name": "paper", "corrections": [], "deviations": deviations}
    assert (
        protocols["fr"]["name"] == "corrected" and "greedy_mgsm" in protocols["fr"]["corrections"]
    )
    readme = Path(hub_api.hf_hub_download(repo, "README.md", repo_type="dataset")).read_text()
    section = readme.split("## Protocol", 1)[1].split("\n## ", 1)[0]
    assert (
        "For de: Protocol **`paper`**" in section and "For fr: Protocol **`corrected`**" in section
    )
    assert "`documents_per_strategy` = 2" in section and "`max_gen_toks` = 128" in section
    assert "comparable with the paper's table" in section and "Corrections: none" in section
    results = hub_api.dataset_info(names.results).card_data.polyglot["protocol"]
    assert results == {"org__tiny-base": resolve("paper+greedy_mgsm").record()}
    details = Path(hub_api.hf_hub_download(names.results, "README.md", repo_type="dataset"))
    assert "Protocol **`paper+greedy_mgsm`**" in details.read_text()
    assert "`greedy_mgsm`: the paper samples MGSM answers" in details.read_text()


def test_model_index_entries_name_their_protocol() -> None:
    results = eval_results(
        "org/student", "de",
        [{"benchmark": "mgsm", "language": "de", "score": 0.4, "protocol": "paper"}],
        {"pg_score": 0.3, "pgr": 0.5, "protocol": "corrected"},
        results_repo="org/r", leaderboard_repo="org/l", endpoint="http://hub",
    )  # fmt: skip
    configs = {r.metric_type: r.metric_config for r in results}
    assert configs == {"accuracy": "paper", "pg_score": "corrected", "pgr": "corrected"}
    unrecorded = eval_results("org/s", "de", [], {"pg_score": 0.3}, results_repo="r",
                              leaderboard_repo="l", endpoint="e")  # fmt: skip
    assert unrecorded[0].metric_config is None
