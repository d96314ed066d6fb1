"""A local Hugging Face Hub that the real ``huggingface_hub``, ``datasets`` and
``transformers`` clients talk to through ``HF_ENDPOINT``.

Why: our publish and load paths are tested against the real clients (CONTRIBUTING: never
mock), nothing can reach huggingface.co from CI, and no open-source Hub server exists. This
one implements the part of the protocol those clients use, read off their source
(huggingface_hub 2.4 ``hf_api.py``, ``_commit_api.py``, ``lfs.py``, ``file_download.py``,
``utils/_http.py``, ``hf_file_system.py``; datasets 5.2 ``arrow_dataset.py``, ``load.py``)::

    GET  /api/whoami-v2
    POST /api/repos/create   DELETE /api/repos/delete   POST /api/validate-yaml
    GET  /api/{type}s/{ns}/{name}[/revision/{rev}]         info: sha, siblings, cardData, private
    GET  /api/{type}s/{ns}/{name}/tree/{rev}[/{path}]      ?recursive=&expand=, one page
    POST /api/{type}s/{ns}/{name}/paths-info/{rev}
    POST /api/{type}s/{ns}/{name}/preupload/{rev}          "regular" or "lfs" per file
    POST /api/{type}s/{ns}/{name}/commit/{branch}          NDJSON: header, file, lfsFile, deleted*
    GET  /api/{type}s/{ns}/{name}/refs | /commits/{rev}
    POST|DELETE /api/{type}s/{ns}/{name}/branch/{branch}    PUT .../settings
    POST /[{type}s/]{ns}/{name}.git/info/lfs/objects/batch | .../verify
    PUT  /_lfs/{sha256}?sig=...                             signed basic-transfer upload, no token
    GET|HEAD /[{type}s/]{ns}/{name}/resolve/{rev}/{path}    X-Repo-Commit, ETag, X-Linked-*, Range

Not implemented: Xet (run clients with ``HF_HUB_DISABLE_XET=1``), pull requests, tags,
gated repos, pagination (every listing is one page). Repo ids need a namespace. Any valid
token reads every private repo; a "write" token writes to any namespace. Errors carry
``X-Error-Code``/``X-Error-Message`` so the client raises ``RepositoryNotFoundError``,
``RevisionNotFoundError`` and ``RemoteEntryNotFoundError`` exactly as against the real Hub.

Storage is a folder: ``objects/<sha256>`` holds file contents, ``repos/<type>s/<ns>/<name>.json``
each repo's branches and full commit history (so ``revision=<old sha>`` keeps working).
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import logging
import os
import re
import secrets
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

logger = logging.getLogger(__name__)

URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
_KIND = {"models": "model", "datasets": "dataset", "spaces": "space"}
LFS_SIZE_THRESHOLD = 10 * 1024 * 1024  # the Hub stores bigger files in LFS whatever their name
LOGGED_BODY_LIMIT = 8 * 1024 * 1024
_LFS_SUFFIXES = (
    "7z arrow bin bz2 ckpt ftz gz h5 joblib mlmodel model msgpack npy npz onnx ot parquet pb"
    " pickle pkl pt pth rar safetensors tar tflite tgz wasm xz zip zst mds lz4 jpg png webp mp3 wav"
)
DEFAULT_GITATTRIBUTES = "".join(
    f"{pattern} filter=lfs diff=lfs merge=lfs -text\n"
    for pattern in [*(f"*.{s}" for s in _LFS_SUFFIXES.split()), "*.tar.*", "saved_model/**/*"]
)
_FRONT_MATTER = re.compile(r"^\s*---[\r\n]+([\S\s]*?)[\r\n]+---(?:\r\n|\n|$)")


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

    def reply(self) -> _Reply:
        # Header values must be latin-1 and one line; the client reads the message from both.
        safe = self.message.encode("ascii", "replace").decode().replace("\n", " ")
        headers = {**self.headers, "X-Error-Message": safe}
        if self.code:
            headers["X-Error-Code"] = self.code
        return _json({"error": self.message, **self.extra}, self.status, headers)


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _json(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> _Reply:
    body = json.dumps(obj).encode()
    return _Reply(status, body, {"Content-Type": "application/json", **(headers or {})})


def _now() -> str:
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


def _path_json(tree: dict[str, Entry], path: str) -> dict[str, Any] | None:
    if path in tree:
        return tree[path].to_json(path)
    if not _is_folder(tree, path):
        return None
    digest = hashlib.sha1()
    for p in sorted(tree):
        if p.startswith(path + "/"):
            digest.update(f"{p}\0{tree[p].blob_id}\n".encode())
    return {"type": "directory", "oid": digest.hexdigest(), "size": 0, "path": path}


def _list_tree(tree: dict[str, Entry], prefix: str, recursive: bool) -> list[dict[str, Any]]:
    if prefix and not _is_folder(tree, prefix):
        raise HubHTTPError(404, f"Entry not found: {prefix}", "EntryNotFound")
    base = prefix + "/" if prefix else ""
    names: set[str] = set()
    for path in tree:
        if path.startswith(base):
            parts = path[len(base) :].split("/")
            for depth in range(1, (len(parts) if recursive else 1) + 1):
                names.add(base + "/".join(parts[:depth]))
    return [info for name in sorted(names) if (info := _path_json(tree, name)) is not None]


def _last_commit(repo: Repo, commit: Commit, path: str) -> dict[str, str]:
    """The oldest ancestor since which ``path`` is unchanged (tree ``expand=True``)."""
    state = _path_json(commit.tree, path)
    while commit.parent and _path_json(repo.commits[commit.parent].tree, path) == state:
        commit = repo.commits[commit.parent]
    return {"id": commit.oid, "title": commit.title, "date": commit.date}


def _matches(path: str, patterns: list[str]) -> bool:
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
    match = _FRONT_MATTER.match(readme)
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


def _check_path(path: str) -> str:
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
            repo = Repo(repo_type, repo_id, private, _now(), sdk)
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
        commit = Commit(oid, parent, tree, title, message, _now(), author)
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


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the server saw it, minus the ``Authorization`` header."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    status: int
    authenticated: bool

    def mentions(self, secret: str) -> bool:
        """Whether ``secret`` leaked into the URL, a logged header or the body."""
        needle = secret.encode()
        return (
            secret in unquote(self.url)
            or any(secret in v for v in self.headers.values())
            or needle in self.body
        )


@dataclass
class _Fault:
    remaining: int
    status: int
    method: str | None
    path_contains: str | None
    retry_after: int | None


@dataclass(frozen=True)
class _Identity:
    user: str
    role: str


_REPO = r"/api/(?P<kind>models|datasets|spaces)/(?P<ns>[^/]+)/(?P<name>[^/]+)"
_FILES = r"/(?:(?P<kind>datasets|spaces)/)?(?P<ns>[^/]+)/(?P<name>[^/]+?)"
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (method, re.compile(pattern), name)
    for method, pattern, name in [
        ("GET", r"/api/whoami-v2", "whoami"),
        ("POST", r"/api/repos/create", "create_repo"),
        ("DELETE", r"/api/repos/delete", "delete_repo"),
        ("POST", r"/api/validate-yaml", "validate_yaml"),
        ("GET", _REPO + r"(?:/revision/(?P<rev>[^/]+))?", "repo_info"),
        ("GET", _REPO + r"/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?", "tree"),
        ("POST", _REPO + r"/paths-info/(?P<rev>[^/]+)", "paths_info"),
        ("POST", _REPO + r"/preupload/(?P<rev>[^/]+)", "preupload"),
        ("POST", _REPO + r"/commit/(?P<rev>[^/]+)", "commit"),
        ("GET", _REPO + r"/refs", "refs"),
        ("GET", _REPO + r"/commits/(?P<rev>[^/]+)", "commits"),
        ("POST", _REPO + r"/branch/(?P<rev>[^/]+)", "create_branch"),
        ("DELETE", _REPO + r"/branch/(?P<rev>[^/]+)", "delete_branch"),
        ("PUT", _REPO + r"/settings", "settings"),
        ("POST", _FILES + r"\.git/info/lfs/objects/batch", "lfs_batch"),
        ("POST", _FILES + r"\.git/info/lfs/objects/verify", "lfs_verify"),
        ("PUT", r"/_lfs/(?P<oid>[0-9a-f]{64})", "lfs_put"),
        ("GET", _FILES + r"/resolve/(?P<rev>[^/]+)/(?P<path>.+)", "resolve"),
    ]
]


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in {"1", "true", "yes"}


class HubServer(ThreadingHTTPServer):
    """The Hub: store, tokens, injected faults and the request log tests assert on."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, root: str | Path, token: str, *, user: str = "polyglot-tester") -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.store = HubStore(Path(root))
        self.user = user
        self.tokens: dict[str, str] = {token: "write"}
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self._log: list[LoggedRequest] = []
        self._uploads: dict[str, tuple[str, int]] = {}  # signature -> (sha256, size)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="hub-server",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def add_token(self, token: str, role: str = "read") -> None:
        """Another valid token; a "read" one gets 403 on writes, as a fine-grained token does."""
        self.tokens[token] = role

    def fail_next(
        self,
        n: int = 1,
        status: int = 503,
        *,
        method: str | None = None,
        path_contains: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next ``n`` matching requests with ``status`` to exercise retry logic.

        huggingface_hub retries 408/429/5xx on most endpoints after sleeping 1, 2, 4... s
        (or ``Retry-After`` + 1 s), so keep ``n`` small in tests.
        """
        with self._lock:
            self._faults.append(_Fault(n, status, method, path_contains, retry_after))

    @property
    def requests(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._log)

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()

    def requests_mentioning(self, secret: str) -> list[LoggedRequest]:
        """Logged requests that carry ``secret`` anywhere but the Authorization header."""
        return [r for r in self.requests if r.mentions(secret)]

    def redact(self, text: str) -> str:
        """What the server itself may print: every known token replaced."""
        for token in self.tokens:
            text = text.replace(token, "<redacted>")
        return text

    def _take_fault(self, method: str, url: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if (fault.method in (None, method)) and (fault.path_contains or "") in url:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _record(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._log.append(entry)

    def _sign_upload(self, sha256: str, size: int) -> str:
        signature = secrets.token_urlsafe(16)
        with self._lock:
            self._uploads[signature] = (sha256, size)
        return signature

    def _check_upload(self, signature: str, sha256: str) -> int:
        with self._lock:
            expected = self._uploads.get(signature)
        if expected is None or expected[0] != sha256:
            raise HubHTTPError(403, "Invalid or expired upload signature")
        return expected[1]

    def _finish_upload(self, signature: str) -> None:
        with self._lock:
            self._uploads.pop(signature, None)


def start_hub_server(root: str | Path, token: str, **kwargs: Any) -> tuple[HubServer, str]:
    """Serve a Hub stored under ``root`` in a daemon thread; returns it and its URL."""
    server = HubServer(root, token, **kwargs)
    server.start()
    return server, server.url


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the clients reuse connections
    timeout = 60
    server: HubServer

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("hub: %s", self.server.redact(format % args))

    # -- plumbing ----------------------------------------------------------------------

    def _read_body(self) -> bytes:
        """The whole body; the LFS client may stream a file object with chunked encoding."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():  # trailers
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _dispatch(self, method: str) -> None:
        body = self._read_body()
        try:
            reply = self._route(method, body)
        except HubHTTPError as err:
            reply = err.reply()
        except Exception as err:  # a server bug: answer so the client fails instead of hanging
            logger.exception("hub: error answering %s %s", method, self.server.redact(self.path))
            reply = HubHTTPError(500, f"Test Hub internal error: {type(err).__name__}").reply()
        headers = {k: v for k, v in self.headers.items() if k.lower() != "authorization"}
        # Logged before answering, so a test reading the log right after a call sees it.
        self.server._record(
            LoggedRequest(
                method,
                self.path,
                headers,
                body[:LOGGED_BODY_LIMIT],
                reply.status,
                "Authorization" in self.headers,
            )
        )
        self.send_response(reply.status)
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if method != "HEAD" and reply.body:
            self.wfile.write(reply.body)

    def _route(self, method: str, body: bytes) -> _Reply:
        fault = self.server._take_fault(method, self.path)
        if fault is not None:
            extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            raise HubHTTPError(fault.status, "Injected failure (fail_next)", headers=extra)
        path = urlsplit(self.path).path
        for route_method, pattern, name in _ROUTES:
            match = pattern.fullmatch(path)
            if match and route_method == ("GET" if method == "HEAD" else method):
                return getattr(self, f"_{name}")(match.groupdict(), body)
        raise HubHTTPError(404, f"Sorry, the test Hub has no {method} {path}")

    def _query(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}

    def _identity(self) -> _Identity | None:
        header = self.headers.get("Authorization")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        role = self.server.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if role is None:  # the Hub's words; the client then raises HfHubHTTPError, not NotFound
            raise HubHTTPError(401, "Invalid credentials in Authorization header")
        return _Identity(self.server.user, role)

    def _writer(self) -> _Identity:
        ident = self._identity()
        if ident is None:
            raise HubHTTPError(401, "You must be authenticated to write to the Hub")
        if ident.role != "write":
            raise HubHTTPError(403, "You don't have the rights to write with this token")
        return ident

    def _repo(self, a: dict[str, Any], *, write: bool = False) -> Repo:
        ident = self._writer() if write else self._identity()
        repo_type = _KIND[a.get("kind") or "models"]  # file URLs have no prefix for models
        repo = self.server.store.find(repo_type, f"{unquote(a['ns'])}/{unquote(a['name'])}")
        if repo is None or (repo.private and ident is None):
            status = 401 if repo is not None else 404
            raise HubHTTPError(status, "Repository not found", "RepoNotFound")
        return repo

    def _repo_url(self, repo: Repo) -> str:
        return f"{self.server.url}/{URL_PREFIX[repo.repo_type]}{repo.repo_id}"

    def _form_or_json(self, body: bytes) -> dict[str, Any]:
        if "json" in self.headers.get("Content-Type", ""):
            return json.loads(body or b"{}")
        return {
            k: v if len(v) > 1 or k == "paths" else v[0] for k, v in parse_qs(body.decode()).items()
        }

    # -- account and repos ---------------------------------------------------------------

    def _whoami(self, a: dict[str, Any], body: bytes) -> _Reply:
        ident = self._identity()
        if ident is None:
            raise HubHTTPError(401, "Invalid credentials in Authorization header")
        token = {"displayName": "test", "role": ident.role, "createdAt": _now()}
        return _json(
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

    def _create_repo(self, a: dict[str, Any], body: bytes) -> _Reply:
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
        return _json({"url": self._repo_url(repo), "name": repo_id, "id": repo_id})

    def _delete_repo(self, a: dict[str, Any], body: bytes) -> _Reply:
        self._writer()
        payload = json.loads(body)
        name = f"{payload.get('organization') or self.server.user}/{payload['name']}"
        repo = self.server.store.find(payload.get("type") or "model", name)
        if repo is None:
            raise HubHTTPError(404, "Repository not found", "RepoNotFound")
        self.server.store.delete(repo)
        return _json({})

    def _validate_yaml(self, a: dict[str, Any], body: bytes) -> _Reply:
        content = json.loads(body).get("content", "")
        if _FRONT_MATTER.match(content) and card_data(content) is None:
            return _json({"errors": [{"message": "YAML front matter is not a mapping"}]}, 400)
        return _json({"errors": [], "warnings": []})

    def _settings(self, a: dict[str, Any], body: bytes) -> _Reply:
        repo = self._repo(a, write=True)
        payload = json.loads(body)
        with self.server.store.lock:
            if "visibility" in payload:
                repo.private = payload["visibility"] == "private"
            elif "private" in payload:
                repo.private = bool(payload["private"])
            self.server.store.save(repo)
        return _json({})

    def _repo_info(self, a: dict[str, Any], body: bytes) -> _Reply:
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
        return _json(info)

    def _refs(self, a: dict[str, Any], body: bytes) -> _Reply:
        repo = self._repo(a)
        branches = [
            {"name": name, "ref": f"refs/heads/{name}", "targetCommit": oid}
            for name, oid in sorted(repo.branches.items())
        ]
        return _json({"branches": branches, "converts": [], "tags": [], "pullRequests": []})

    def _commits(self, a: dict[str, Any], body: bytes) -> _Reply:
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
        return _json(out)

    def _create_branch(self, a: dict[str, Any], body: bytes) -> _Reply:
        repo = self._repo(a, write=True)
        branch = unquote(a["rev"])
        start = repo.resolve(json.loads(body or b"{}").get("startingPoint") or "main")
        with self.server.store.lock:
            if branch in repo.branches:
                raise HubHTTPError(409, "Reference already exists")
            repo.branches[branch] = start.oid
            self.server.store.save(repo)
        return _json({})

    def _delete_branch(self, a: dict[str, Any], body: bytes) -> _Reply:
        repo = self._repo(a, write=True)
        branch = unquote(a["rev"])
        with self.server.store.lock:
            if repo.branches.pop(branch, None) is None:
                raise HubHTTPError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
            self.server.store.save(repo)
        return _json({})

    # -- reading files -------------------------------------------------------------------

    def _tree(self, a: dict[str, Any], body: bytes) -> _Reply:
        repo = self._repo(a)
        commit = repo.resolve(unquote(a["rev"]))
        query = self._query()
        items = _list_tree(
            commit.tree, unquote(a.get("path") or "").strip("/"), _truthy(query.get("recursive"))
        )
        if _truthy(query.get("expand")):
            for item in items:
                item["lastCommit"] = _last_commit(repo, commit, item["path"])
        return _json(items)

    def _paths_info(self, a: dict[str, Any], body: bytes) -> _Reply:
        repo = self._repo(a)
        commit = repo.resolve(unquote(a["rev"]))
        payload = self._form_or_json(body)
        paths = payload.get("paths") or []
        expand = payload.get("expand") in (True, "true", "True", "1")
        out = []
        for path in [paths] if isinstance(paths, str) else paths:
            info = _path_json(commit.tree, path.strip("/"))
            if info is not None:
                if expand:
                    info["lastCommit"] = _last_commit(repo, commit, info["path"])
                out.append(info)
        return _json(out)

    def _resolve(self, a: dict[str, Any], body: bytes) -> _Reply:
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
            return _Reply(200, data, headers)
        if wanted[1]:
            start = int(wanted[1])
            end = min(int(wanted[2]) if wanted[2] else len(data) - 1, len(data) - 1)
        else:
            start, end = max(len(data) - int(wanted[2]), 0), len(data) - 1
        if start >= len(data) or start > end:
            headers["Content-Range"] = f"bytes */{len(data)}"
            raise HubHTTPError(416, "Requested range not satisfiable", headers=headers)
        headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        return _Reply(206, data[start : end + 1], headers)

    # -- writing -------------------------------------------------------------------------

    def _preupload(self, a: dict[str, Any], body: bytes) -> _Reply:
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
                size >= LFS_SIZE_THRESHOLD or b"\0" in sample or _matches(path, lfs_patterns)
            )
            entry = commit.tree.get(path)
            oid = None if entry is None else entry.sha256 if entry.lfs else entry.blob_id
            files.append(
                {
                    "path": path,
                    "uploadMode": "lfs" if lfs else "regular",
                    "shouldIgnore": _matches(path, ignored),
                    "oid": oid,
                }
            )
        return _json({"files": files, "commitOid": commit.oid})

    def _lfs_batch(self, a: dict[str, Any], body: bytes) -> _Reply:
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
        reply = _json({"transfer": "basic", "objects": objects, "hash_algo": "sha256"})
        reply.headers["Content-Type"] = "application/vnd.git-lfs+json"
        return reply

    def _lfs_put(self, a: dict[str, Any], body: bytes) -> _Reply:
        signature = self._query().get("sig", "")
        size = self.server._check_upload(signature, a["oid"])
        if len(body) != size:
            raise HubHTTPError(400, f"Size mismatch: announced {size} bytes, received {len(body)}")
        if hashlib.sha256(body).hexdigest() != a["oid"]:
            raise HubHTTPError(400, "sha256 mismatch: the uploaded content does not match its oid")
        self.server.store.put_object(body)
        self.server._finish_upload(signature)
        return _Reply(200, b"", {"ETag": f'"{hashlib.md5(body).hexdigest()}"'})

    def _lfs_verify(self, a: dict[str, Any], body: bytes) -> _Reply:
        self._repo(a, write=True)
        obj = json.loads(body)
        if self.server.store.object_size(str(obj.get("oid"))) != obj.get("size"):
            raise HubHTTPError(404, f"LFS object {obj.get('oid')} not found or of another size")
        return _json({"success": True})

    def _commit(self, a: dict[str, Any], body: bytes) -> _Reply:
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
                operations.append(("add", _check_path(value["path"]), store.regular(raw)))
            elif key == "lfsFile":
                oid = str(value.get("oid"))
                size = store.object_size(oid)
                if size is None or value.get("size", size) != size:
                    raise HubHTTPError(
                        422, f"LFS object {oid} was not uploaded (or has another size)"
                    )
                pointer = git_blob_sha1(lfs_pointer(oid, size))
                operations.append(
                    ("add", _check_path(value["path"]), Entry(oid, size, pointer, True))
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
        return _json(
            {"success": True, "commitOid": commit.oid, "commitUrl": url, "pullRequestUrl": None}
        )
