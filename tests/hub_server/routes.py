"""The endpoints of the test Hub, in the shapes ``huggingface_hub`` and ``datasets`` read.

Why apart from the plumbing (``handler.py``): these follow the real Hub's answers field by
field, so they change whenever a client starts reading a new field, and are easiest to check
against the client source when nothing else is in the way.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any
from urllib.parse import unquote

from .handler import URL_PREFIX, RequestHandler
from .storage import (
    DEFAULT_GITATTRIBUTES,
    FRONT_MATTER,
    Commit,
    Entry,
    HubHTTPError,
    Reply,
    card_data,
    check_path,
    git_blob_sha1,
    hub_now,
    json_reply,
    last_commit,
    lfs_pointer,
    list_tree,
    matches,
    path_json,
)

LFS_SIZE_THRESHOLD = 10 * 1024 * 1024  # the Hub stores bigger files in LFS whatever their name


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in {"1", "true", "yes"}


class HubHandler(RequestHandler):
    """The endpoints; each ``_<name>`` answers the route of that name in ``handler._ROUTES``."""

    # -- account and repos ---------------------------------------------------------------

    def _whoami(self, a: dict[str, Any], body: bytes) -> Reply:
        ident = self._identity()
        if ident is None:
            raise HubHTTPError(401, "Invalid credentials in Authorization header")
        token = {"displayName": "test", "role": ident.role, "createdAt": hub_now()}
        return json_reply(
            {
                "type": "user",
                "id": hashlib.sha1(ident.user.encode()).hexdigest()[:24],
                "name": ident.user,
                "fullname": ident.user,
                "email": None,
                "emailVerified": True,
                "isPro": False,
                "canPay": False,
                "orgs": [],
                "auth": {"type": "access_token", "accessToken": token},
            }
        )

    def _create_repo(self, a: dict[str, Any], body: bytes) -> Reply:
        ident = self._writer()
        payload = json.loads(body)
        repo_type = payload.get("type") or "model"
        if repo_type not in URL_PREFIX:
            raise HubHTTPError(400, f"Unsupported repo type {repo_type!r}")
        repo_id = f"{payload.get('organization') or ident.user}/{payload['name']}"
        private = payload.get("visibility", "") == "private" or bool(payload.get("private"))
        store = self.server.store
        with store.lock:
            existing = store.find(repo_type, repo_id)
            if existing is not None:
                url = self._repo_url(existing)
                raise HubHTTPError(
                    409, f"You already created this {repo_type} repo", extra={"url": url}
                )
            repo = store.create(repo_type, repo_id, private, payload.get("sdk"), ident.user)
        return json_reply({"url": self._repo_url(repo), "name": repo_id, "id": repo_id})

    def _delete_repo(self, a: dict[str, Any], body: bytes) -> Reply:
        self._writer()
        payload = json.loads(body)
        name = f"{payload.get('organization') or self.server.user}/{payload['name']}"
        repo = self.server.store.find(payload.get("type") or "model", name)
        if repo is None:
            raise HubHTTPError(404, "Repository not found", "RepoNotFound")
        self.server.store.delete(repo)
        return json_reply({})

    def _validate_yaml(self, a: dict[str, Any], body: bytes) -> Reply:
        content = json.loads(body).get("content", "")
        if FRONT_MATTER.match(content) and card_data(content) is None:
            return json_reply({"errors": [{"message": "YAML front matter is not a mapping"}]}, 400)
        return json_reply({"errors": [], "warnings": []})

    def _settings(self, a: dict[str, Any], body: bytes) -> Reply:
        repo = self._repo(a, write=True)
        payload = json.loads(body)
        with self.server.store.lock:
            if "visibility" in payload:
                repo.private = payload["visibility"] == "private"
            elif "private" in payload:
                repo.private = bool(payload["private"])
            self.server.store.save(repo)
        return json_reply({})

    def _repo_info(self, a: dict[str, Any], body: bytes) -> Reply:
        repo = self._repo(a)
        commit = repo.resolve(unquote(a.get("rev") or "main"))
        blobs = _truthy(self._query().get("blobs"))
        siblings = []
        for path, entry in sorted(commit.tree.items()):
            sibling: dict[str, Any] = {"rfilename": path}
            if blobs:
                sibling.update(size=entry.size, blobId=entry.blob_id)
                if entry.lfs:
                    pointer = len(lfs_pointer(entry.sha256, entry.size))
                    sibling["lfs"] = {
                        "sha256": entry.sha256,
                        "size": entry.size,
                        "pointerSize": pointer,
                    }
            siblings.append(sibling)
        readme = self.server.store.text(commit, "README.md")
        card = card_data(readme) if readme is not None else None
        info: dict[str, Any] = {
            "_id": hashlib.sha1(f"{repo.repo_type}/{repo.repo_id}".encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "author": repo.repo_id.split("/")[0],
            "sha": commit.oid,
            "lastModified": commit.date,
            "createdAt": repo.created_at,
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "likes": 0,
            "downloads": 0,
            "tags": list(card.get("tags") or []) if card else [],
            "siblings": siblings,
            "usedStorage": sum(e.size for e in commit.tree.values()),
        }
        if card is not None:
            info["cardData"] = card
        if repo.repo_type == "model":
            info.update(modelId=repo.repo_id, library_name=(card or {}).get("library_name"))
            info["pipeline_tag"] = (card or {}).get("pipeline_tag")
        elif repo.repo_type == "space":
            info["sdk"] = repo.sdk or (card or {}).get("sdk")
        return json_reply(info)

    def _refs(self, a: dict[str, Any], body: bytes) -> Reply:
        repo = self._repo(a)
        branches = [
            {"name": name, "ref": f"refs/heads/{name}", "targetCommit": oid}
            for name, oid in sorted(repo.branches.items())
        ]
        return json_reply({"branches": branches, "converts": [], "tags": [], "pullRequests": []})

    def _commits(self, a: dict[str, Any], body: bytes) -> Reply:
        repo = self._repo(a)
        commit: Commit | None = repo.resolve(unquote(a["rev"]))
        out = []
        while commit is not None:
            out.append(
                {
                    "id": commit.oid,
                    "title": commit.title,
                    "message": commit.message,
                    "date": commit.date,
                    "authors": [{"user": commit.author, "avatar": None}],
                }
            )
            commit = repo.commits[commit.parent] if commit.parent else None
        return json_reply(out)

    def _create_branch(self, a: dict[str, Any], body: bytes) -> Reply:
        repo = self._repo(a, write=True)
        branch = unquote(a["rev"])
        start = repo.resolve(json.loads(body or b"{}").get("startingPoint") or "main")
        with self.server.store.lock:
            if branch in repo.branches:
                raise HubHTTPError(409, "Reference already exists")
            repo.branches[branch] = start.oid
            self.server.store.save(repo)
        return json_reply({})

    def _delete_branch(self, a: dict[str, Any], body: bytes) -> Reply:
        repo = self._repo(a, write=True)
        branch = unquote(a["rev"])
        with self.server.store.lock:
            if repo.branches.pop(branch, None) is None:
                raise HubHTTPError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
            self.server.store.save(repo)
        return json_reply({})

    # -- reading files -------------------------------------------------------------------

    def _tree(self, a: dict[str, Any], body: bytes) -> Reply:
        repo = self._repo(a)
        commit = repo.resolve(unquote(a["rev"]))
        query = self._query()
        items = list_tree(
            commit.tree, unquote(a.get("path") or "").strip("/"), _truthy(query.get("recursive"))
        )
        if _truthy(query.get("expand")):
            for item in items:
                item["lastCommit"] = last_commit(repo, commit, item["path"])
        return json_reply(items)

    def _paths_info(self, a: dict[str, Any], body: bytes) -> Reply:
        repo = self._repo(a)
        commit = repo.resolve(unquote(a["rev"]))
        payload = self._form_or_json(body)
        paths = payload.get("paths") or []
        expand = payload.get("expand") in (True, "true", "True", "1")
        out = []
        for path in [paths] if isinstance(paths, str) else paths:
            info = path_json(commit.tree, path.strip("/"))
            if info is not None:
                if expand:
                    info["lastCommit"] = last_commit(repo, commit, info["path"])
                out.append(info)
        return json_reply(out)

    def _resolve(self, a: dict[str, Any], body: bytes) -> Reply:
        repo = self._repo(a)
        commit = repo.resolve(unquote(a["rev"]))
        path = unquote(a["path"])
        headers = {"X-Repo-Commit": commit.oid}
        entry = commit.tree.get(path)
        if entry is None:  # X-Repo-Commit lets the client cache the miss (.no_exist)
            raise HubHTTPError(404, "Entry not found", "EntryNotFound", headers=headers)
        headers.update(
            {
                "ETag": f'"{entry.etag}"',
                "Accept-Ranges": "bytes",
                "Content-Type": "application/octet-stream",
            }
        )
        if entry.lfs:
            headers.update({"X-Linked-Etag": f'"{entry.sha256}"', "X-Linked-Size": str(entry.size)})
        data = self.server.store.read(entry)
        wanted = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", self.headers.get("Range") or "")
        if wanted is None or not (wanted[1] or wanted[2]):
            return Reply(200, data, headers)
        if wanted[1]:
            start = int(wanted[1])
            end = min(int(wanted[2]) if wanted[2] else len(data) - 1, len(data) - 1)
        else:
            start, end = max(len(data) - int(wanted[2]), 0), len(data) - 1
        if start >= len(data) or start > end:
            headers["Content-Range"] = f"bytes */{len(data)}"
            raise HubHTTPError(416, "Requested range not satisfiable", headers=headers)
        headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        return Reply(206, data[start : end + 1], headers)

    # -- writing -------------------------------------------------------------------------

    def _preupload(self, a: dict[str, Any], body: bytes) -> Reply:
        """Regular or LFS per file, as the Hub decides: .gitattributes, size, binary sample."""
        repo = self._repo(a, write=True)
        commit = repo.resolve(unquote(a["rev"]))
        payload = json.loads(body)
        store = self.server.store
        attributes = store.text(commit, ".gitattributes") or DEFAULT_GITATTRIBUTES
        lfs_patterns = [ln.split()[0] for ln in attributes.splitlines() if "filter=lfs" in ln]
        gitignore = payload.get("gitIgnore") or store.text(commit, ".gitignore") or ""
        ignored = [ln for ln in gitignore.splitlines() if ln.strip() and ln[0] not in "#!"]
        files = []
        for item in payload["files"]:
            path, size = item["path"], int(item["size"])
            sample = base64.b64decode(item.get("sample") or "")
            lfs = size > 0 and (
                size >= LFS_SIZE_THRESHOLD or b"\0" in sample or matches(path, lfs_patterns)
            )
            entry = commit.tree.get(path)
            oid = None if entry is None else entry.sha256 if entry.lfs else entry.blob_id
            files.append(
                {
                    "path": path,
                    "uploadMode": "lfs" if lfs else "regular",
                    "shouldIgnore": matches(path, ignored),
                    "oid": oid,
                }
            )
        return json_reply({"files": files, "commitOid": commit.oid})

    def _lfs_batch(self, a: dict[str, Any], body: bytes) -> Reply:
        """git-lfs batch API: "basic" upload actions pointing back here, signed, no token."""
        repo = self._repo(a, write=True)
        payload = json.loads(body)
        if payload.get("operation") != "upload":
            raise HubHTTPError(400, "The test Hub only implements LFS uploads")
        verify = {"href": f"{self._repo_url(repo)}.git/info/lfs/objects/verify", "header": {}}
        objects = []
        for obj in payload.get("objects", []):
            oid, size = str(obj.get("oid")), int(obj.get("size", -1))
            if not re.fullmatch(r"[0-9a-f]{64}", oid) or size < 0:
                error = {"code": 422, "message": "oid must be a sha256 and size >= 0"}
                objects.append({"oid": oid, "size": max(size, 0), "error": error})
            elif self.server.store.object_size(oid) == size:
                objects.append({"oid": oid, "size": size})  # already stored: nothing to do
            else:
                href = f"{self.server.url}/_lfs/{oid}?sig={self.server._sign_upload(oid, size)}"
                actions = {"upload": {"href": href, "expires_in": 3600}, "verify": verify}
                objects.append(
                    {"oid": oid, "size": size, "authenticated": True, "actions": actions}
                )
        reply = json_reply({"transfer": "basic", "objects": objects, "hash_algo": "sha256"})
        reply.headers["Content-Type"] = "application/vnd.git-lfs+json"
        return reply

    def _lfs_put(self, a: dict[str, Any], body: bytes) -> Reply:
        signature = self._query().get("sig", "")
        size = self.server._check_upload(signature, a["oid"])
        if len(body) != size:
            raise HubHTTPError(400, f"Size mismatch: announced {size} bytes, received {len(body)}")
        if hashlib.sha256(body).hexdigest() != a["oid"]:
            raise HubHTTPError(400, "sha256 mismatch: the uploaded content does not match its oid")
        self.server.store.put_object(body)
        self.server._finish_upload(signature)
        return Reply(200, b"", {"ETag": f'"{hashlib.md5(body).hexdigest()}"'})

    def _lfs_verify(self, a: dict[str, Any], body: bytes) -> Reply:
        self._repo(a, write=True)
        obj = json.loads(body)
        if self.server.store.object_size(str(obj.get("oid"))) != obj.get("size"):
            raise HubHTTPError(404, f"LFS object {obj.get('oid')} not found or of another size")
        return json_reply({"success": True})

    def _commit(self, a: dict[str, Any], body: bytes) -> Reply:
        repo = self._repo(a, write=True)
        if _truthy(self._query().get("create_pr")):
            raise HubHTTPError(501, "The test Hub does not implement pull requests")
        branch = unquote(a["rev"]).removeprefix("refs/heads/")
        if branch not in repo.branches:
            repo.resolve(branch)  # 404 RevisionNotFound unless it is a commit sha
            raise HubHTTPError(400, f"Commits go on a branch, not on commit {branch}")
        store = self.server.store
        header: dict[str, Any] | None = None
        operations: list[tuple[str, str, Entry | None]] = []
        for line in body.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item.get("key"), item.get("value") or {}
            if key == "header":
                header = value
            elif key == "file":
                content = value.get("content", "")
                raw = (
                    base64.b64decode(content)
                    if value.get("encoding") == "base64"
                    else content.encode()
                )
                operations.append(("add", check_path(value["path"]), store.regular(raw)))
            elif key == "lfsFile":
                oid = str(value.get("oid"))
                size = store.object_size(oid)
                if size is None or value.get("size", size) != size:
                    raise HubHTTPError(
                        422, f"LFS object {oid} was not uploaded (or has another size)"
                    )
                pointer = git_blob_sha1(lfs_pointer(oid, size))
                operations.append(
                    ("add", check_path(value["path"]), Entry(oid, size, pointer, True))
                )
            elif key in ("deletedFile", "deletedFolder"):
                operations.append((key, value["path"], None))
            else:
                raise HubHTTPError(400, f"Unknown commit operation {key!r}")
        if header is None:
            raise HubHTTPError(400, "The commit payload needs a header line first")
        commit = store.commit(
            repo,
            branch,
            operations,
            header.get("summary") or "",
            header.get("description") or "",
            header.get("parentCommit"),
            self._writer().user,
        )
        url = f"{self._repo_url(repo)}/commit/{commit.oid}"
        return json_reply(
            {"success": True, "commitOid": commit.oid, "commitUrl": url, "pullRequestUrl": None}
        )
