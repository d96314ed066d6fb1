"""The test Hub server object tests hold: store, tokens, injected faults, request log.

Why apart from the handler: this is the surface tests call (``fail_next``, ``requests``,
``add_token``...), and it is shared state the handler threads reach through ``self.server``.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .handler import LoggedRequest
from .routes import HubHandler
from .storage import HubHTTPError, HubStore


@dataclass
class _Fault:
    remaining: int
    status: int
    method: str | None
    path_contains: str | None
    retry_after: int | None


class HubServer(ThreadingHTTPServer):
    """The Hub: store, tokens, injected faults and the request log tests assert on."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, root: str | Path, token: str, *, user: str = "polyglot-tester") -> None:
        super().__init__(("127.0.0.1", 0), HubHandler)
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
