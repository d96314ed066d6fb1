"""The local Hub answers the real clients as huggingface.co does.

Every test drives ``huggingface_hub``, ``datasets`` or ``transformers`` themselves; the
server is only inspected through its request log, never called directly.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hub_server import HubServer, start_hub_server


def _parquet(path: Path, rows: int = 50) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(
        pa.table({"id": list(range(rows)), "text": [f"row {i}" for i in range(rows)]}), path
    )
    return path.read_bytes()


def test_create_info_and_delete_each_repo_type(hub_api, hub_repo_id):
    from huggingface_hub.errors import RepositoryNotFoundError

    for repo_type, kwargs in [("model", {}), ("dataset", {}), ("space", {"space_sdk": "gradio"})]:
        url = hub_api.create_repo(hub_repo_id, repo_type=repo_type, **kwargs)
        assert url.repo_id == hub_repo_id and url.repo_type == repo_type
        assert hub_api.create_repo(hub_repo_id, repo_type=repo_type, exist_ok=True, **kwargs) == url
        info = hub_api.repo_info(hub_repo_id, repo_type=repo_type)
        assert info.id == hub_repo_id and len(info.sha) == 40 and info.private is False
        assert ".gitattributes" in [s.rfilename for s in info.siblings]  # the Hub's initial commit
        if repo_type == "space":
            assert info.sdk == "gradio"
        hub_api.delete_repo(hub_repo_id, repo_type=repo_type)
        with pytest.raises(RepositoryNotFoundError):
            hub_api.repo_info(hub_repo_id, repo_type=repo_type)
        hub_api.delete_repo(hub_repo_id, repo_type=repo_type, missing_ok=True)
    assert hub_api.whoami()["name"] == "polyglot-tester"


def test_upload_list_and_download_byte_identical(
    hub_api, hub_server, hub_token, hub_repo_id, tmp_path
):
    from huggingface_hub import HfFileSystem, hf_hub_download, snapshot_download
    from huggingface_hub.errors import RemoteEntryNotFoundError, RevisionNotFoundError

    hub_api.create_repo(hub_repo_id, repo_type="dataset")
    folder = tmp_path / "upload"
    (folder / "de").mkdir(parents=True)
    (folder / "notes.txt").write_text("Grüße\n")
    parquet = _parquet(folder / "de" / "train.parquet")
    hub_server.clear_requests()
    hub_api.upload_folder(folder_path=folder, repo_id=hub_repo_id, repo_type="dataset")
    hub_api.upload_file(
        path_or_fileobj=b"# card\n",
        path_in_repo="README.md",
        repo_id=hub_repo_id,
        repo_type="dataset",
    )

    # The parquet file went through LFS: batch, signed PUT without a token, then lfsFile.
    puts = [r for r in hub_server.requests if r.method == "PUT" and r.url.startswith("/_lfs/")]
    assert len(puts) == 1 and not puts[0].authenticated and puts[0].body == parquet
    files = hub_api.list_repo_files(hub_repo_id, repo_type="dataset")
    assert files == [".gitattributes", "README.md", "de/train.parquet", "notes.txt"]
    top = {e.path for e in hub_api.list_repo_tree(hub_repo_id, repo_type="dataset")}
    assert top == {".gitattributes", "README.md", "de", "notes.txt"}
    (info,) = hub_api.list_repo_tree(hub_repo_id, "de", repo_type="dataset", expand=True)
    assert info.lfs.size == len(parquet) and info.last_commit.title.startswith("Upload folder")
    paths = hub_api.get_paths_info(hub_repo_id, ["notes.txt", "de", "missing"], repo_type="dataset")
    assert [p.path for p in paths] == ["notes.txt", "de"] and paths[0].lfs is None

    got = hf_hub_download(hub_repo_id, "de/train.parquet", repo_type="dataset", token=hub_token)
    assert Path(got).read_bytes() == parquet
    snapshot = Path(snapshot_download(hub_repo_id, repo_type="dataset", token=hub_token))
    assert (snapshot / "notes.txt").read_text() == "Grüße\n"
    assert (snapshot / "de" / "train.parquet").read_bytes() == parquet
    fs = HfFileSystem(endpoint=hub_server.url, token=hub_token)  # what datasets reads through
    assert fs.cat_file(f"datasets/{hub_repo_id}/de/train.parquet", start=4, end=20) == parquet[4:20]
    assert fs.glob(f"datasets/{hub_repo_id}/de/*.parquet") == [
        f"datasets/{hub_repo_id}/de/train.parquet"
    ]
    with pytest.raises(RemoteEntryNotFoundError):
        hf_hub_download(hub_repo_id, "nope.txt", repo_type="dataset", token=hub_token)
    with pytest.raises(RevisionNotFoundError):
        hub_api.list_repo_files(hub_repo_id, repo_type="dataset", revision="no-such-branch")
    assert hub_server.requests_mentioning(hub_token) == []


def test_revision_pinning_and_history(hub_api, hub_token, hub_repo_id):
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError

    hub_api.create_repo(hub_repo_id)
    first = hub_api.upload_file(path_or_fileobj=b"v1", path_in_repo="w.txt", repo_id=hub_repo_id)
    second = hub_api.create_commit(
        hub_repo_id,
        operations=[
            CommitOperationAdd(path_in_repo="w.txt", path_or_fileobj=b"v2"),
            CommitOperationAdd(path_in_repo="extra/x.txt", path_or_fileobj=b"x"),
        ],
        commit_message="second",
    )
    assert first.oid != second.oid
    old = hf_hub_download(hub_repo_id, "w.txt", revision=first.oid, token=hub_token)
    new = hf_hub_download(hub_repo_id, "w.txt", token=hub_token)
    assert Path(old).read_bytes() == b"v1" and Path(new).read_bytes() == b"v2"
    assert hub_api.model_info(hub_repo_id, revision=first.oid).sha == first.oid
    assert hub_api.list_repo_refs(hub_repo_id).branches[0].target_commit == second.oid
    titles = [c.title for c in hub_api.list_repo_commits(hub_repo_id)]
    assert titles[:2] == ["second", "Upload w.txt with huggingface_hub"]
    hub_api.create_commit(
        hub_repo_id,
        operations=[CommitOperationDelete("extra/"), CommitOperationDelete("w.txt")],
        commit_message="clean",
    )
    assert hub_api.list_repo_files(hub_repo_id) == [".gitattributes"]
    assert "extra/x.txt" in hub_api.list_repo_files(hub_repo_id, revision=second.oid)
    with pytest.raises(HfHubHTTPError) as stale:  # datasets retries its card update on this
        hub_api.upload_file(
            path_or_fileobj=b"v3",
            path_in_repo="w.txt",
            repo_id=hub_repo_id,
            parent_commit=first.oid,
        )
    assert stale.value.response.status_code == 412


def test_restarted_server_keeps_its_repos(tmp_path):
    from huggingface_hub import HfApi

    first, url = start_hub_server(tmp_path, "hf_restart_token")
    try:
        api = HfApi(endpoint=url, token="hf_restart_token")
        api.create_repo("org/kept")
        sha = api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="org/kept").oid
    finally:
        first.stop()
    second, url = start_hub_server(tmp_path, "hf_restart_token")
    try:
        api = HfApi(endpoint=url, token="hf_restart_token")
        assert api.model_info("org/kept").sha == sha
        assert api.list_repo_files("org/kept") == [".gitattributes", "x.txt"]
    finally:
        second.stop()


def test_card_data_comes_from_readme_yaml(hub_api, hub_repo_id):
    hub_api.create_repo(hub_repo_id, repo_type="dataset")
    card = b"---\nlicense: apache-2.0\ntags:\n- polyglot\n---\n# Card\n"
    hub_api.upload_file(
        path_or_fileobj=card, path_in_repo="README.md", repo_id=hub_repo_id, repo_type="dataset"
    )
    info = hub_api.dataset_info(hub_repo_id)
    assert info.card_data.license == "apache-2.0" and info.tags == ["polyglot"]


def test_private_repo_needs_a_token(hub_api, hub_server, hub_token, hub_repo_id):
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.errors import RepositoryNotFoundError

    hub_api.create_repo(hub_repo_id, private=True)
    hub_api.upload_file(path_or_fileobj=b"secret", path_in_repo="s.txt", repo_id=hub_repo_id)
    anonymous = HfApi(endpoint=hub_server.url, token=False)
    with pytest.raises(RepositoryNotFoundError):
        anonymous.model_info(hub_repo_id)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(hub_repo_id, "s.txt", token=False)
    assert hub_api.model_info(hub_repo_id).private is True
    assert Path(hf_hub_download(hub_repo_id, "s.txt", token=hub_token)).read_bytes() == b"secret"
    hub_api.update_repo_settings(hub_repo_id, private=False)
    assert anonymous.model_info(hub_repo_id).private is False


def test_wrong_or_read_only_token_cannot_write(hub_api, hub_server, hub_repo_id):
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    hub_api.create_repo(hub_repo_id)
    wrong = HfApi(endpoint=hub_server.url, token="hf_not_a_valid_token")
    with pytest.raises(HfHubHTTPError) as bad:
        wrong.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=hub_repo_id)
    assert bad.value.response.status_code == 401
    assert not isinstance(bad.value, RepositoryNotFoundError)
    assert "Invalid credentials" in str(bad.value)

    hub_server.add_token("hf_read_only_token", role="read")
    reader = HfApi(endpoint=hub_server.url, token="hf_read_only_token")
    assert reader.model_info(hub_repo_id).id == hub_repo_id
    with pytest.raises(HfHubHTTPError) as forbidden:
        reader.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=hub_repo_id)
    assert forbidden.value.response.status_code == 403
    assert hub_api.list_repo_files(hub_repo_id) == [".gitattributes"]


def test_injected_503_is_retried_then_succeeds(hub_api, hub_server: HubServer, hub_repo_id):
    from huggingface_hub.errors import HfHubHTTPError

    hub_api.create_repo(hub_repo_id)
    hub_server.clear_requests()
    hub_server.fail_next(1, status=503, path_contains="/preupload/")
    hub_api.upload_file(path_or_fileobj=b"ok", path_in_repo="ok.txt", repo_id=hub_repo_id)
    preuploads = [r.status for r in hub_server.requests if "/preupload/" in r.url]
    assert preuploads == [503, 200]
    assert "ok.txt" in hub_api.list_repo_files(hub_repo_id)

    hub_server.fail_next(1, status=503, path_contains="/api/whoami-v2")  # not retried by the client
    with pytest.raises(HfHubHTTPError) as failed:
        hub_api.whoami(cache=False)
    assert failed.value.response.status_code == 503


def test_datasets_push_two_configs_and_load_them_back(hub_api, hub_server, hub_token, hub_repo_id):
    from datasets import Dataset, load_dataset

    rows = {
        "de": {"prompt": ["Hallo", "Wie geht's?"], "valid": [True, False]},
        "fr": {"prompt": ["Bonjour"], "valid": [True]},
    }
    for config_name, columns in rows.items():
        Dataset.from_dict(columns).push_to_hub(
            hub_repo_id, config_name=config_name, token=hub_token
        )
    card = hub_api.dataset_info(hub_repo_id).card_data
    assert [c["config_name"] for c in card["configs"]] == ["de", "fr"]
    parquet = [f for f in hub_api.list_repo_tree(hub_repo_id, "de", repo_type="dataset")]
    assert parquet and all(f.lfs is not None for f in parquet)
    for config_name, columns in rows.items():
        loaded = load_dataset(hub_repo_id, config_name, split="train", token=hub_token)
        assert loaded.to_dict() == columns
    assert hub_server.requests_mentioning(hub_token) == []


def test_transformers_push_to_hub_and_from_pretrained(hub_token, hub_repo_id):
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=100,
    )
    model = LlamaForCausalLM(config)
    model.push_to_hub(hub_repo_id, token=hub_token)
    loaded = AutoModelForCausalLM.from_pretrained(hub_repo_id, token=hub_token)
    original, reloaded = model.state_dict(), loaded.state_dict()
    assert original.keys() == reloaded.keys()
    assert all(torch.equal(original[k], reloaded[k]) for k in original)
