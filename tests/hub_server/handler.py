"""The HTTP side of the test Hub that every endpoint shares: URL table, auth, request log.

Why apart from the endpoints (``routes.py``): this is the part tests lean on indirectly (the
request log, tokens never logged, injected faults answered before routing), and it stays the
same however many endpoints the clients come to need.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from .storage import HubHTTPError, Reply, Repo

if TYPE_CHECKING:
    from .server import HubServer

logger = logging.getLogger(__name__)

URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
LOGGED_BODY_LIMIT = 8 * 1024 * 1024


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


class RequestHandler(BaseHTTPRequestHandler):
    """Reading, routing, authenticating and logging requests; ``HubHandler`` answers them."""

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

    def _route(self, method: str, body: bytes) -> Reply:
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
        repo_type = REPO_TYPES[a.get("kind") or "models"]  # file URLs have no prefix for models
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
