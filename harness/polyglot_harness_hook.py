"""The start-up half of the lm-eval hook: tiny, because every Python start pays for it.

``polyglot_harness_autoload.pth`` runs at each interpreter start in the environment
(pip, pytest, any script), so what it imports is a tax on all of them. The wheel ships
this file as the top-level module ``polyglot_harness_hook`` (not inside the package; a
source checkout imports it as ``harness.polyglot_harness_hook``), which the ``.pth``
file imports. A top-level module keeps the ``harness`` package itself out of
``sys.modules`` at start-up (a user's own ``harness`` package next to their script would
otherwise be shadowed by ours), and this one imports nothing that the interpreter has
not loaded already: only ``sys`` and ``os``; no ``importlib.*``, no ``typing``, no
``from __future__``.

The finder below matches one module name and otherwise returns at once. When the
program itself imports ``lm_eval.tasks.manager``, it wraps that module's loader, and only
then :mod:`harness.autoload` (the real patch) is imported.
"""

import os
import sys

TARGET = "lm_eval.tasks.manager"
ENV_VAR = "POLYGLOT_HARNESS_AUTOLOAD"
_OFF = frozenset({"0", "false", "no", "off"})
_MARK = "_polyglot_harness_finder"


def enabled() -> bool:
    """Whether the opt-out variable leaves the hook on."""
    return os.environ.get(ENV_VAR, "1").strip().lower() not in _OFF


class _Loader:
    """Runs lm-eval's own loader, then patches the fresh module's ``TaskManager``."""

    def __init__(self, wrapped: object) -> None:
        self._wrapped = wrapped

    def __getattr__(self, name: str) -> object:
        # get_source, get_filename, is_package ... stay those of the real loader.
        if name == "_wrapped":  # not set yet (copy, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self._wrapped, name)

    def create_module(self, spec: object) -> object:
        return self._wrapped.create_module(spec)

    def exec_module(self, module: object) -> None:
        self._wrapped.exec_module(module)
        from harness.autoload import patch_task_manager

        patch_task_manager(module)


class Finder:
    """Finds nothing itself; decorates the real spec of lm-eval's task manager."""

    _polyglot_harness_finder = True

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> object:
        if fullname != TARGET:
            return None
        for finder in sys.meta_path:
            if getattr(finder, _MARK, False) or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                if not isinstance(spec.loader, _Loader):
                    spec.loader = _Loader(spec.loader)
                return spec
        return None


def install() -> None:
    """Register the hook once; patch at once if lm-eval's task manager is already loaded.

    Idempotent even when both copies of this module are loaded (an editable install has
    both): a finder is recognised by its marker attribute, not its class.
    """
    if not enabled():
        return
    if TARGET in sys.modules:
        from harness.autoload import patch_task_manager

        patch_task_manager(sys.modules[TARGET])
        return
    if not any(getattr(f, _MARK, False) for f in sys.meta_path):
        sys.meta_path.insert(0, Finder())
