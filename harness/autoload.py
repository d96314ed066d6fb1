"""Make plain ``lm_eval --tasks 'polyglot_*'`` find our tasks without ``--include_path``.

lm-eval 0.4.13 has no plugin discovery for task folders. The wheel therefore ships a
``.pth`` file that, at interpreter start, puts a tiny finder on ``sys.meta_path`` (from
:mod:`harness.polyglot_harness_hook`, which imports nothing else, so that every Python
start in the environment stays as fast as without us). Nothing of this module, lm-eval
or torch is imported until the program itself imports ``lm_eval.tasks.manager``. At that
moment the finder runs :func:`patch_task_manager`, which wraps ``TaskManager.__init__``
so every task manager also scans our task folder, and the generation and benchmark tasks
of language packs (:mod:`harness.languages.packs`), written then into a cache folder
(:func:`pack_tasks_path`).

The same moment registers our schema-guided model types (``polyglot-hf``,
``polyglot-vllm``, ``polyglot-local-chat-completions``,
``polyglot-openai-chat-completions``; :mod:`harness.models.structured`) as lazy entries of
lm-eval's model registry, so ``lm_eval --model polyglot-hf`` works from the plain CLI:
lm-eval's evaluator imports the task manager before it looks a model up.

Set ``POLYGLOT_HARNESS_AUTOLOAD=0`` to switch this off (then use
``--include_path $(polyglot-harness tasks-path)``; the harness's own commands register
the model types themselves).
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

from harness.naming import EXPLICIT_ONLY, TASK_PREFIX
from harness.paths import tasks_path

try:  # the top-level copy the wheel installs (and the .pth file has imported)
    import polyglot_harness_hook as _hook
except ImportError:  # a source checkout that is not installed
    from harness import polyglot_harness_hook as _hook

ENV_VAR = _hook.ENV_VAR
enabled = _hook.enabled

__all__ = [
    "ENV_VAR",
    "STRUCTURED_BACKENDS",
    "enabled",
    "install",
    "patch_task_manager",
    "prune_matches",
    "register_models",
    "structured_type",
]

PREFIX = TASK_PREFIX  # EXPLICIT_ONLY (harness.naming): tasks a ``polyglot_*`` glob skips

# lm-eval model types that can hold an output to a JSON schema -> our subclass of each in
# STRUCTURED_MODULE, registered with lm-eval as "polyglot-<type>".
STRUCTURED_BACKENDS: dict[str, str] = {
    "hf": "StructuredHFLM",
    "vllm": "StructuredVLLM",
    "local-chat-completions": "StructuredLocalChatCompletion",
    "openai-chat-completions": "StructuredOpenAIChatCompletion",
}
STRUCTURED_MODULE = "harness.models.structured"
_BACKEND_ALIASES = {"huggingface": "hf", "hf-auto": "hf"}  # lm-eval's other names for HFLM


def structured_type(model: str) -> str | None:
    """Our schema-guided lm-eval type for ``model`` (``hf`` -> ``polyglot-hf``), or None."""
    if model.startswith(PREFIX + "-") and model[len(PREFIX) + 1 :] in STRUCTURED_BACKENDS:
        return model
    base = _BACKEND_ALIASES.get(model, model)
    return f"{PREFIX}-{base}" if base in STRUCTURED_BACKENDS else None


def register_models() -> None:
    """Add our model types to lm-eval's registry as lazy ``module:Class`` entries.

    Nothing heavy is imported (torch loads when lm-eval first builds such a model).
    ``lm_eval.models`` is imported first on purpose: ``get_model`` fills the registry
    with lm-eval's own backends only when it finds it empty, so an entry of ours
    registered into an empty registry would hide every built-in backend.
    """
    import lm_eval.models  # noqa: F401  (lm-eval's own entries first; see above)
    from lm_eval.api.registry import model_registry

    for base, cls in STRUCTURED_BACKENDS.items():
        name = f"{PREFIX}-{base}"
        if name not in model_registry:
            model_registry.register(name, target=f"{STRUCTURED_MODULE}:{cls}")


def pack_task_files(codes: tuple[str, ...], root: Path) -> dict[str, str]:
    """Relative path -> content of the task YAMLs of pack languages ``codes``, to be
    written under a folder in ``root`` (outside the package).

    The task generator's per-language files: the generation tasks and groups, and a leaf
    per built-in benchmark the language's record lists, with its language groups. Shared
    templates and the ``polyglot`` group stay in the package; each file includes its
    template by absolute path, so the template's ``!function`` hooks resolve beside it.
    """
    from harness.evaluate.registry import registry
    from harness.languages import get_language
    from harness.naming import GENERATION_TASKS
    from harness.taskgen import (
        GENERATION_TEMPLATE,
        render_benchmark_tasks,
        render_generation_tasks,
    )

    template = tasks_path() / GENERATION_TASKS / GENERATION_TEMPLATE
    generation = render_generation_tasks(codes, template=str(template))
    files = {f"{GENERATION_TASKS}/{name}": text for name, text in generation.items()}
    builtin = [b for b in registry().values() if b.builtin]
    languages = [get_language(code) for code in codes]
    files.update(render_benchmark_tasks(builtin, languages, root=root, groups=True))
    return files


def pack_tasks_path() -> Path | None:
    """The folder of the language packs' tasks, written on first use; None without packs.

    The folder is ``$POLYGLOT_HARNESS_CACHE/tasks/<hash of its files>``: a changed pack
    (or harness version) gets a new folder, so a stale one is never read.

    Raises:
        ConfigError: a language pack is invalid.
    """
    from harness.languages import pack_languages

    codes = tuple(sorted(pack_languages()))
    if not codes:
        return None
    from harness.models.cache import cache_dir

    root = cache_dir() / "tasks"
    files = pack_task_files(codes, root)
    digest = hashlib.sha256(repr(sorted(files.items())).encode("utf-8")).hexdigest()[:16]
    folder = root / digest
    if folder.is_dir():
        return folder
    staging = folder.with_name(f".{digest}.{os.getpid()}")
    staging.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (staging / name).parent.mkdir(parents=True, exist_ok=True)
        (staging / name).write_text(text, encoding="utf-8")
    try:
        staging.rename(folder)
    except OSError:  # another process wrote the same folder first
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def _with_our_path(include_path: Any) -> list[str | Path]:
    ours = [tasks_path(), *filter(None, [pack_tasks_path()])]
    if include_path is None:
        paths: list[str | Path] = []
    elif isinstance(include_path, (list, tuple)):
        paths = list(include_path)
    else:
        paths = [include_path]
    resolved = {Path(p).resolve() for p in paths}
    # Ours go first so that a user's own --include_path can still override a task.
    paths[:0] = [p for p in ours if p.resolve() not in resolved]
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
    """Wrap ``module.TaskManager`` once: our task folder, and sane ``polyglot_*`` globs.

    Also registers our model types (:func:`register_models`): lm-eval's evaluator imports
    the task manager before it looks a model up, so this is the one moment every
    ``lm_eval`` run passes through.
    """
    if enabled():
        register_models()
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
