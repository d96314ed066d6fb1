"""Executors: where grid jobs run. Looked up by name, imported only when used."""

from __future__ import annotations

import difflib
import importlib
from typing import Any

from harness.errors import ConfigError
from harness.grid.executors.base import Executor, Handle, Resources, State, Submission

# name -> "module:class"; the engine's own package is imported only when chosen.
EXECUTORS: dict[str, str] = {
    "local": "harness.grid.executors.local:LocalExecutor",
    "slurm": "harness.grid.executors.slurm:SlurmExecutor",
    "ray": "harness.grid.executors.ray:RayExecutor",
}


def get_executor(name: str, options: dict[str, Any] | None = None) -> Executor:
    """Build the executor called ``name`` with the grid's ``executor_options``.

    Raises:
        ConfigError: unknown name or option (the nearest valid name is suggested).
    """
    if name not in EXECUTORS:
        near = difflib.get_close_matches(name, list(EXECUTORS), n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise ConfigError(f"unknown executor {name!r}{hint}; use one of {', '.join(EXECUTORS)}")
    module, _, attr = EXECUTORS[name].partition(":")
    cls = getattr(importlib.import_module(module), attr)
    try:
        return cls(**(options or {}))
    except TypeError as exc:
        raise ConfigError(f"executor {name!r}: bad executor_options ({exc})") from exc


__all__ = ["EXECUTORS", "Executor", "Handle", "Resources", "State", "Submission", "get_executor"]
