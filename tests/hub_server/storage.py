"""The test Hub's state: repos, their full commit history, and file contents on disk.

Why a module of its own: everything here is independent of HTTP except the errors, and those
are the Hub's own answers (``RevisionNotFound``, a stale ``parentCommit``...) that the model
decides, so ``HubHTTPError`` and the reply it becomes live with the model rather than above it.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import secrets
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

_LFS_SUFFIXES = (
    "7z arrow bin bz2 ckpt ftz gz h5 joblib mlmodel model msgpack npy npz onnx ot parquet pb"
    " pickle pkl pt pth rar safetensors tar tflite tgz wasm xz zip zst mds lz4 jpg png webp mp3 wav"
)
DEFAULT_GITATTRIBUTES = "".join(
    f"{pattern} filter=lfs diff=lfs merge=lfs -text\n"
    for pattern in [*(f"*.{s}" for s in _LFS_SUFFIXES.split()), "*.tar.*", "saved_model/**/*"]
)
FRONT_MATTER = re.compile(r"^\s*---[\r\n]+([\S\s]*?)[\r\n]+---(?:\r\n|\n|$)")


class HubHTTPError(Exception):
    """An error answer, raised anywhere in a handler; ``code`` becomes ``X-Error-Code``."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.headers, self.extra = headers or {}, extra or {}

    def reply(self) -> Reply:
        # Header values must be latin-1 and one line; the client reads the message from both.
        safe = self.message.encode("ascii", "replace").decode().replace("\n", " ")
        headers = {**self.headers, "X-Error-Message": safe}
        if self.code:
            headers["X-Error-Code"] = self.code
        return json_reply({"error": self.message, **self.extra}, self.status, headers)


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    body = json.dumps(obj).encode()
    return Reply(status, body, {"Content-Type": "application/json", **(headers or {})})


def hub_now() -> str:
    """The Hub's date format; ``huggingface_hub.utils.parse_datetime`` accepts only this."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def git_blob_sha1(data: bytes) -> str:
    """``git hash-object``: the ETag of regular files and the oid the client compares to."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()
    )


@dataclass(frozen=True)
class Entry:
    """One file of a commit; its content is the object ``sha256`` of the store."""

    sha256: str
    size: int
    blob_id: str  # git sha1 of the content, or of the LFS pointer as on the Hub
    lfs: bool

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else self.blob_id

    def to_json(self, path: str) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "file", "oid": self.blob_id, "size": self.size, "path": path}
        if self.lfs:
            pointer_size = len(lfs_pointer(self.sha256, self.size))
            out["lfs"] = {"oid": self.sha256, "size": self.size, "pointerSize": pointer_size}
        return out


@dataclass
class Commit:
    oid: str
    parent: str | None
    tree: dict[str, Entry]
    title: str
    message: str
    date: str
    author: str


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    created_at: str
    sdk: str | None = None
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)

    def resolve(self, revision: str) -> Commit:
        """Branch name, ``refs/heads/<branch>``, or a full or >= 7-character commit sha."""
        branch = revision.removeprefix("refs/heads/")
        if branch in self.branches:
            return self.commits[self.branches[branch]]
        if re.fullmatch(r"[0-9a-f]{7,40}", revision):
            # list(): another thread may be committing to this repo meanwhile
            found = [c for oid, c in list(self.commits.items()) if oid.startswith(revision)]
            if len(found) == 1:
                return found[0]
        raise HubHTTPError(404, f"Invalid rev id: {revision}", "RevisionNotFound")


def _is_folder(tree: dict[str, Entry], path: str) -> bool:
    return path == "" or any(p.startswith(path + "/") for p in tree)


def path_json(tree: dict[str, Entry], path: str) -> dict[str, Any] | None:
    if path in tree:
        return tree[path].to_json(path)
    if not _is_folder(tree, path):
        return None
    digest = hashlib.sha1()
    for p in sorted(tree):
        if p.startswith(path + "/"):
            digest.update(f"{p}\0{tree[p].blob_id}\n".encode())
    return {"type": "directory", "oid": digest.hexdigest(), "size": 0, "path": path}


def list_tree(tree: dict[str, Entry], prefix: str, recursive: bool) -> list[dict[str, Any]]:
    if prefix and not _is_folder(tree, prefix):
        raise HubHTTPError(404, f"Entry not found: {prefix}", "EntryNotFound")
    base = prefix + "/" if prefix else ""
    names: set[str] = set()
    for path in tree:
        if path.startswith(base):
            parts = path[len(base) :].split("/")
            for depth in range(1, (len(parts) if recursive else 1) + 1):
                names.add(base + "/".join(parts[:depth]))
    return [info for name in sorted(names) if (info := path_json(tree, name)) is not None]


def last_commit(repo: Repo, commit: Commit, path: str) -> dict[str, str]:
    """The oldest ancestor since which ``path`` is unchanged (tree ``expand=True``)."""
    state = path_json(commit.tree, path)
    while commit.parent and path_json(repo.commits[commit.parent].tree, path) == state:
        commit = repo.commits[commit.parent]
    return {"id": commit.oid, "title": commit.title, "date": commit.date}


def matches(path: str, patterns: list[str]) -> bool:
    """Gitignore/gitattributes matching, simplified: a pattern without "/" matches basenames."""
    parts = path.split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    for raw in patterns:
        pattern = raw.strip().strip("/")
        for cand in candidates:
            name = cand.rsplit("/", 1)[-1]
            if fnmatch.fnmatch(cand, pattern) or (
                "/" not in pattern and fnmatch.fnmatch(name, pattern)
            ):
                return True
    return False


def card_data(readme: str) -> dict[str, Any] | None:
    """The YAML front matter of a README, as the Hub returns it in ``cardData``.

    PyYAML is imported lazily: it is a dependency of huggingface_hub itself, so it is there
    whenever a client is; without it ``cardData`` is simply left out.
    """
    match = FRONT_MATTER.match(readme)
    if match is None:
        return None
    try:
        import yaml
    except ImportError:  # pragma: no cover - PyYAML ships with huggingface_hub
        return None
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None


def check_path(path: str) -> str:
    parts = path.split("/")
    if (
        not path
        or path.startswith("/")
        or any(p in ("", ".", "..") for p in parts)
        or parts[0] == ".git"
    ):
        raise HubHTTPError(400, f"Invalid path in repo: {path!r}")
    return path


class HubStore:
    """Repos and file contents on disk; one lock, since the server answers in threads."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = root / "objects"
        self.objects.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self._repos: dict[tuple[str, str], Repo] = {}
        self._counter = 0
        for meta in (root / "repos").glob("*/*/*.json"):  # a restarted server keeps its repos
            raw = json.loads(meta.read_text())
            commits = {
                oid: Commit(**{**c, "tree": {p: Entry(**e) for p, e in c["tree"].items()}})
                for oid, c in raw.pop("commits").items()
            }
            repo = Repo(**raw, commits=commits)
            self._repos[(repo.repo_type, repo.repo_id)] = repo

    def put_object(self, data: bytes) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        target = self.objects / sha256
        if not target.exists():
            tmp = target.with_name(f"{sha256}.{secrets.token_hex(4)}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)
        return sha256

    def object_size(self, sha256: str) -> int | None:
        target = self.objects / sha256
        return (
            target.stat().st_size
            if re.fullmatch(r"[0-9a-f]{64}", sha256) and target.exists()
            else None
        )

    def read(self, entry: Entry) -> bytes:
        return (self.objects / entry.sha256).read_bytes()

    def text(self, commit: Commit, path: str) -> str | None:
        entry = commit.tree.get(path)
        return self.read(entry).decode("utf-8", "replace") if entry else None

    def regular(self, data: bytes) -> Entry:
        return Entry(self.put_object(data), len(data), git_blob_sha1(data), lfs=False)

    def find(self, repo_type: str, repo_id: str) -> Repo | None:
        return self._repos.get((repo_type, repo_id))

    def create(
        self, repo_type: str, repo_id: str, private: bool, sdk: str | None, author: str
    ) -> Repo:
        """A new repo with the Hub's initial commit (``.gitattributes``; Spaces also a README)."""
        with self.lock:
            repo = Repo(repo_type, repo_id, private, hub_now(), sdk)
            tree = {".gitattributes": self.regular(DEFAULT_GITATTRIBUTES.encode())}
            if repo_type == "space":
                readme = f"---\ntitle: {repo_id.split('/')[-1]}\nsdk: {sdk}\n---\n"
                tree["README.md"] = self.regular(readme.encode())
            commit = self._new_commit(repo, None, tree, "initial commit", "", author)
            repo.branches["main"] = commit.oid
            self._repos[(repo_type, repo_id)] = repo
            self.save(repo)
            return repo

    def delete(self, repo: Repo) -> None:
        with self.lock:
            self._repos.pop((repo.repo_type, repo.repo_id), None)
            self._meta_path(repo).unlink(missing_ok=True)

    def commit(
        self,
        repo: Repo,
        branch: str,
        operations: list[tuple[str, str, Entry | None]],
        title: str,
        message: str,
        parent_commit: str | None,
        author: str,
    ) -> Commit:
        """Apply ``(kind, path, entry)`` operations in order on top of the branch head."""
        with self.lock:
            head = repo.commits[repo.branches[branch]]
            if parent_commit is not None and parent_commit != head.oid:
                raise HubHTTPError(
                    412, "A commit has happened since. Please refresh and try again."
                )
            tree = dict(head.tree)
            for kind, path, entry in operations:
                if kind == "add" and entry is not None:
                    tree[path] = entry
                elif kind == "deletedFile":
                    if tree.pop(path, None) is None:
                        msg = f"A file with this name doesn't exist: {path}"
                        raise HubHTTPError(404, msg, "EntryNotFound")
                else:
                    inside = [p for p in tree if p.startswith(path.rstrip("/") + "/")]
                    if not inside:
                        raise HubHTTPError(404, f"No folder named {path}", "EntryNotFound")
                    for p in inside:
                        del tree[p]
            commit = self._new_commit(repo, head.oid, tree, title, message, author)
            repo.branches[branch] = commit.oid
            self.save(repo)
            return commit

    def _new_commit(
        self,
        repo: Repo,
        parent: str | None,
        tree: dict[str, Entry],
        title: str,
        message: str,
        author: str,
    ) -> Commit:
        self._counter += 1
        seed = json.dumps(
            [parent, sorted((p, e.blob_id) for p, e in tree.items()), title, self._counter]
        )
        oid = hashlib.sha1(f"{seed}{os.urandom(8).hex()}".encode()).hexdigest()
        commit = Commit(oid, parent, tree, title, message, hub_now(), author)
        repo.commits[oid] = commit
        return commit

    def _meta_path(self, repo: Repo) -> Path:
        return self.root / "repos" / f"{repo.repo_type}s" / f"{repo.repo_id}.json"

    def save(self, repo: Repo) -> None:
        path = self._meta_path(repo)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(asdict(repo)))
        os.replace(tmp, path)
