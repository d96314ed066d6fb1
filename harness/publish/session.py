"""The Hub operations publish needs, each retried and reported through :func:`hub_call`.

Why a small session object rather than calling ``HfApi`` everywhere: the token,
endpoint, visibility and retry policy are decided once, and every write goes through
:meth:`HubSession.commit`, which leans on ``create_commit`` skipping files whose
content the Hub already has, so re-publishing an unchanged run creates no commit.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HubError
from harness.publish.plan import RepoNames
from harness.publish.retry import RetryPolicy, hub_call

logger = logging.getLogger(__name__)

SECRET_SCAN_LIMIT = 50 * 1024 * 1024  # larger files are weights; scanning them costs minutes


@dataclass
class HubSession:
    """One authenticated connection to a Hub (huggingface.co or ``HF_ENDPOINT``)."""

    api: Any  # huggingface_hub.HfApi
    token: str | None
    names: RepoNames
    private: bool | None  # None: new repos private, existing ones left as they are
    policy: RetryPolicy

    @property
    def endpoint(self) -> str:
        return str(self.api.endpoint).rstrip("/")

    def call(self, fn: Any, *, repo_id: str, action: str) -> Any:
        """``fn()`` with retries; a lasting failure becomes a one-line HubError."""
        return hub_call(fn, repo_id=repo_id, action=action, token=self.token, policy=self.policy)

    def ensure_repo(self, repo_id: str, repo_type: str, **kwargs: Any) -> None:
        """Create the repo if missing (private unless ``--public``); fix visibility if asked."""
        private = True if self.private is None else self.private
        self.call(
            lambda: self.api.create_repo(
                repo_id, repo_type=repo_type, private=private, exist_ok=True, **kwargs
            ),
            repo_id=repo_id,
            action=f"create {repo_type} repo",
        )
        if self.private is None:
            return
        info = self.call(
            lambda: self.api.repo_info(repo_id, repo_type=repo_type),
            repo_id=repo_id,
            action=f"read {repo_type} repo",
        )
        if bool(info.private) != self.private:
            logger.info("%s: making it %s", repo_id, "private" if self.private else "public")
            self.call(
                lambda: self.api.update_repo_settings(
                    repo_id, repo_type=repo_type, private=self.private
                ),
                repo_id=repo_id,
                action="change visibility of",
            )

    def head(self, repo_id: str, repo_type: str) -> str:
        """The commit sha of the repo's main branch."""
        info = self.call(
            lambda: self.api.repo_info(repo_id, repo_type=repo_type),
            repo_id=repo_id,
            action=f"read {repo_type} repo",
        )
        return str(info.sha)

    def read_text(self, repo_id: str, repo_type: str, filename: str) -> str | None:
        """A text file of the repo's main branch, or ``None`` if it has no such file."""
        from huggingface_hub.errors import EntryNotFoundError

        def download() -> str | None:
            try:
                path = self.api.hf_hub_download(repo_id, filename, repo_type=repo_type)
            except EntryNotFoundError:
                return None
            return Path(path).read_text(encoding="utf-8")

        return self.call(download, repo_id=repo_id, action=f"download {filename} from")

    def commit(
        self,
        repo_id: str,
        repo_type: str,
        files: Mapping[str, bytes | Path],
        message: str,
    ) -> str:
        """Add ``files`` (path in repo -> content) in one commit; returns the head sha.

        Unchanged files are dropped by ``create_commit`` itself (it compares the Hub's
        blob ids with ours), so an all-unchanged call creates no commit at all.
        """
        from huggingface_hub import CommitOperationAdd

        self._refuse_secrets(repo_id, files)

        def run() -> str:
            operations = [
                CommitOperationAdd(
                    path_in_repo=name,
                    path_or_fileobj=str(content) if isinstance(content, Path) else content,
                )
                for name, content in sorted(files.items())
            ]
            info = self.api.create_commit(
                repo_id, operations=operations, commit_message=message, repo_type=repo_type
            )
            return str(info.oid)

        return self.call(run, repo_id=repo_id, action=f"commit to {repo_type} repo")

    def _refuse_secrets(self, repo_id: str, files: Mapping[str, bytes | Path]) -> None:
        """Stop before uploading any file that contains the token (weights excepted)."""
        if not self.token:
            return
        needle = self.token.encode()
        for name, content in files.items():
            if isinstance(content, Path):
                if content.stat().st_size > SECRET_SCAN_LIMIT:
                    continue
                content = content.read_bytes()
            if needle in content:
                raise HubError(
                    f"refusing to upload {name} to {repo_id}: it contains the Hub token; "
                    "remove it from the file and publish again"
                )


def open_session(
    org: str,
    *,
    token: str | None = None,
    endpoint: str | None = None,
    private: bool | None = None,
    policy: RetryPolicy | None = None,
) -> HubSession:
    """A session for ``org``; the token defaults to ``HF_TOKEN`` / the stored login."""
    from huggingface_hub import HfApi, get_token

    token = token or get_token()
    api = HfApi(endpoint=endpoint, token=token, library_name="polyglot-harness")
    return HubSession(api, token, RepoNames(org), private, policy or RetryPolicy())
