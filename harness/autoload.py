"""Make plain ``lm_eval --tasks 'polyglot_*'`` find our tasks without ``--include_path``.

lm-eval 0.4.13 has no plugin discovery for task folders. The wheel therefore ships a
``.pth`` file that, at interpreter start, puts a tiny finder on ``sys.meta_path`` (from
:mod:`harness.polyglot_harness_hook`, which imports nothing else, so that every Python
start in the environment stays as fast as without us). Nothing of this module, lm-eval
or torch is imported until the program itself imports ``lm_eval.tasks.manager``. At that
moment the finder runs :func:`patch_task_manager`, which wraps ``TaskManager.__init__``
so every task manager also scans our task folder.

Set ``POLYGLOT_HARNESS_AUTOLOAD=0`` to switch this off (then use
``--include_path $(polyglot-harness tasks-path)``).
"""

from __future__ import annotations

import fnmatch
import functools
from pathlib import Path
from typing import Any

from harness.paths import tasks_path

try:  # the top-level copy the wheel installs (and the .pth file has imported)
    import polyglot_harness_hook as _hook
except ImportError:  # a source checkout that is not installed
    from harness import polyglot_harness_hook as _hook

ENV_VAR = _hook.ENV_VAR
enabled = _hook.enabled

__all__ = ["ENV_VAR", "enabled", "install", "patch_task_manager", "prune_matches"]

PREFIX = "polyglot"
# Matched only by patterns that name them: a generation sweep ``polyglot_*`` must not
# run benchmarks or the judge on the teacher.
EXPLICIT_ONLY = ("polyglot_eval", "polyglot_judge")


def _with_our_path(include_path: Any) -> list[str | Path]:
    ours = tasks_path()
    if include_path is None:
        paths: list[str | Path] = []
    elif isinstance(include_path, (list, tuple)):
        paths = list(include_path)
    else:
        paths = [include_path]
    resolved = {Path(p).resolve() for p in paths}
    if ours.resolve() not in resolved:
        # Ours go first so that a user's own --include_path can still override a task.
        paths.insert(0, ours)
    return paths


def _children(manager: Any, name: str) -> list[str]:
    entry = manager.task_index.get(name)
    cfg = getattr(entry, "cfg", None) or {}
    tasks = cfg.get("task") if isinstance(cfg, dict) and "group" in cfg else None
    if isinstance(tasks, str):
        return [tasks]
    return [t for t in tasks or [] if isinstance(t, str)]


def prune_matches(manager: Any, patterns: list[str], names: list[str]) -> list[str]:
    """Make ``--tasks 'polyglot_*'`` select the generation sweep and nothing else.

    lm-eval's glob returns a group *and* its members, then refuses the duplicate; and
    ``polyglot_*`` would also catch our benchmark and judge tasks. For our names only:
    members of a matched group are dropped (the group runs them), and evaluation/judge
    tasks are kept only when a pattern starts with their prefix.
    """
    explicit = [p for p in patterns if p.startswith(EXPLICIT_ONLY)]
    kept = [
        n
        for n in names
        if not n.startswith(EXPLICIT_ONLY)
        or n in patterns
        or any(fnmatch.fnmatchcase(n, p) for p in explicit)
    ]
    covered: set[str] = set()
    stack = [n for n in kept if n.startswith(PREFIX)]
    while stack:
        for child in _children(manager, stack.pop()):
            if child not in covered:
                covered.add(child)
                stack.append(child)
    return [n for n in kept if not (n.startswith(PREFIX) and n in covered)]


def patch_task_manager(module: Any) -> None:
    """Wrap ``module.TaskManager`` once: our task folder, and sane ``polyglot_*`` globs."""
    cls = module.TaskManager
    if getattr(cls.__init__, "_polyglot_patched", False):
        return
    original = cls.__init__
    original_match = cls.match_tasks

    @functools.wraps(original_match)
    def match_tasks(self: Any, task_list: list[str]) -> list[str]:
        names = original_match(self, task_list)
        return prune_matches(self, list(task_list), names) if enabled() else names

    cls.match_tasks = match_tasks

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if enabled():
            if len(args) >= 2:  # include_path given positionally (verbosity, include_path, ...)
                args = (args[0], _with_our_path(args[1]), *args[2:])
            else:
                kwargs["include_path"] = _with_our_path(kwargs.get("include_path"))
        original(self, *args, **kwargs)

    __init__._polyglot_patched = True  # type: ignore[attr-defined]
    cls.__init__ = __init__


def install() -> None:
    """Register the hook (idempotent); patch at once if lm-eval is already imported.

    The ``.pth`` file calls the top-level copy of :mod:`harness.polyglot_harness_hook`
    directly; this entry point serves a source checkout without the ``.pth`` file.
    """
    _hook.install()
