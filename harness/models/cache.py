"""The harness's own cache folder (converted checkpoints, built tiny models)."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "POLYGLOT_HARNESS_CACHE"


def cache_dir() -> Path:
    """``$POLYGLOT_HARNESS_CACHE``, else ``~/.cache/polyglot-harness``."""
    root = os.environ.get(ENV_VAR) or Path.home() / ".cache" / "polyglot-harness"
    path = Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path
