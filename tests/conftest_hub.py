"""Wire the local Hub (``tests/hub_server.py``) into the test session.

Why a ``pytest_configure`` hook: ``huggingface_hub.constants``, ``datasets.config`` (and
through them ``transformers``) read ``HF_ENDPOINT``, ``HF_HOME`` and ``HF_HUB_DISABLE_XET``
once, at import. The server therefore starts, and the environment is set, before any test
module is collected, i.e. before anything can import those libraries. Starting a server
costs a few milliseconds, so it is started eagerly rather than lazily. Pointing every
client at it also sandboxes the whole session: a stray Hub call from any test reaches this
server and gets a fast 404 instead of hanging on the network.

Use from ``tests/conftest.py`` (tests/ is on ``sys.path`` in pytest's default import mode)::

    from conftest_hub import (  # noqa: F401  (pytest finds hooks and fixtures by name)
        hub_api,
        hub_repo_id,
        hub_server,
        hub_token,
        pytest_configure,
        pytest_unconfigure,
    )

and keep ``huggingface_hub``, ``datasets``, ``transformers`` and ``harness`` imports out
of conftest module scope (import them inside fixtures), or the hook fails loudly.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from hub_server import HubServer, start_hub_server

# Read at import time by these modules: they must not be imported before the hook runs.
_EARLY_READERS = ("huggingface_hub", "datasets", "transformers")
# Settings of the developer's machine that would leak into, or break, the session.
_CLEARED = (
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_TOKEN_PATH",
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_HUB_CACHE",
    "HUGGINGFACE_HUB_CACHE",
    "HF_ASSETS_CACHE",
    "HF_DATASETS_CACHE",
    "HF_XET_CACHE",
    "HUGGINGFACE_CO_STAGING",
    "HF_INFERENCE_ENDPOINT",
)
# Set for the session; HF_ENDPOINT and HF_HOME get their values when the server starts.
_SETTINGS = {
    "HF_ENDPOINT": "",
    "HF_HOME": "",
    "HF_HUB_DISABLE_XET": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_UPDATE_CHECK": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
}

_session: dict[str, Any] = {}


def configure_hub_environment() -> tuple[HubServer, str]:
    """Start the session's Hub and point every client at it; idempotent.

    Sets ``HF_ENDPOINT``, a fresh ``HF_HOME`` (isolated caches, no stored token),
    ``HF_HUB_DISABLE_XET=1`` (the server speaks LFS, not Xet) and switches telemetry and
    update checks off. ``HF_TOKEN`` is removed so a developer's real token never reaches
    the test server; tests pass ``hub_token`` explicitly.
    """
    if "server" in _session:
        return _session["server"], _session["token"]
    early = sorted(m for m in _EARLY_READERS if m in sys.modules)
    if early:
        raise pytest.UsageError(
            f"{', '.join(early)} was imported before the local Hub was configured, so it "
            "already read HF_ENDPOINT; move that import from conftest/plugin module scope "
            "into the fixture that needs it."
        )
    root = Path(tempfile.mkdtemp(prefix="polyglot-hub-"))
    token = f"hf_test_{secrets.token_hex(16)}"  # random per session: it can never be a real one
    server, url = start_hub_server(root / "hub", token)
    saved = {key: os.environ.get(key) for key in (*_CLEARED, *_SETTINGS)}
    for key in _CLEARED:
        os.environ.pop(key, None)
    os.environ.update({**_SETTINGS, "HF_ENDPOINT": url, "HF_HOME": str(root / "hf_home")})
    _session.update(server=server, token=token, root=root, saved=saved)
    return server, token


def restore_hub_environment() -> None:
    """Stop the server, restore the environment and delete the session's Hub folder."""
    if "server" not in _session:
        return
    _session["server"].stop()
    for key, value in _session["saved"].items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    shutil.rmtree(_session["root"], ignore_errors=True)
    _session.clear()


def pytest_configure(config: pytest.Config) -> None:
    configure_hub_environment()


def pytest_unconfigure(config: pytest.Config) -> None:
    restore_hub_environment()


@pytest.fixture(scope="session")
def hub_server() -> HubServer:
    """The session's local Hub: ``.url``, ``.fail_next()``, ``.requests``, ``.add_token()``."""
    return configure_hub_environment()[0]


@pytest.fixture(scope="session")
def hub_token() -> str:
    """A write token of the local Hub (random per session)."""
    return configure_hub_environment()[1]


@pytest.fixture(scope="session")
def hub_api(hub_server: HubServer, hub_token: str) -> Any:
    """An ``HfApi`` bound to the local Hub and authenticated with ``hub_token``."""
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub_server.url, token=hub_token)


@pytest.fixture
def hub_repo_id(request: pytest.FixtureRequest) -> str:
    """A repo id unique to the test, so tests sharing the session Hub never collide."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", request.node.name)[:60].strip("-.")
    return f"polyglot-tests/{name}-{uuid.uuid4().hex[:8]}"
