"""The teacher registry (``teachers.yaml``) as typed, validated specs.

Errors name the entry and the field, so a typo in a user's one-line addition is
found at load time, not an hour into a generation run.
"""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, UnknownTeacherError
from harness.files import unique_key_loader
from harness.naming import slug
from harness.paths import teachers_path
from harness.redact import is_secret_key

logger = logging.getLogger(__name__)

# lm-eval model types whose constructor does not take the model as ``pretrained=``
# (the API clients also accept ``pretrained=``; ``model=`` is what their docs show).
_ID_KEYS = {
    "gguf": "base_url",
    "ggml": "base_url",
    "textsynth": "engine",
    "watsonx_llm": "model_id",
}
_API_MARKERS = ("completions", "chat", "litellm")


def lm_eval_model_types() -> tuple[str, ...]:
    """Every model type lm-eval's registry knows, without importing any model class.

    ``lm_eval.models`` registers lazy ``"module:Class"`` placeholders, so this costs
    a fraction of a second, where importing the classes would load torch. Not cached:
    a model class a user registers with ``@register_model`` later counts too.
    """
    import lm_eval.models  # noqa: F401  (fills the registry with lazy entries)
    from lm_eval.api.registry import model_registry

    from harness.autoload import register_models

    register_models()  # our polyglot-* backends (schema-guided JSON), lazy as well

    return tuple(sorted(model_registry.keys()))


def check_backend(backend: Any, where: str) -> None:
    """Raise unless ``backend`` is a model type lm-eval can load.

    Why here: an unknown type would otherwise surface as lm-eval's ``ValueError`` only
    when ``generate`` starts, after the user has queued a whole grid on it.

    Raises:
        ConfigError: ``backend`` is not a string, or no lm-eval model type of that name
            exists (the message names the nearest ones).
    """
    if not isinstance(backend, str) or not backend.strip():
        raise ConfigError(f"{where}: field 'backend' must be an lm-eval model type (e.g. hf)")
    known = lm_eval_model_types()
    if backend in known:
        return
    near = difflib.get_close_matches(backend, known, n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(near)}?" if near else f"lm-eval knows {', '.join(known)}"
    raise ConfigError(f"{where}: field 'backend' is {backend!r}, not an lm-eval model type; {hint}")


def model_id_key(backend: str) -> str:
    """The ``model_args`` key under which ``backend`` takes the model id or path."""
    if backend in _ID_KEYS:
        return _ID_KEYS[backend]
    return "model" if any(m in backend for m in _API_MARKERS) else "pretrained"


@dataclass(frozen=True)
class TeacherSpec:
    """One teacher: what to load, with which lm-eval backend, and what it is."""

    name: str
    id: str
    family: str
    size_b: float | None
    backend: str = "hf"
    model_args: dict[str, Any] = field(default_factory=dict)
    api: bool = False
    gated: bool = False
    notes: str = ""
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        where = f"teacher {self.name!r}"
        if not isinstance(self.aliases, tuple) or not all(
            isinstance(a, str) and a.strip() for a in self.aliases
        ):
            raise ConfigError(f"{where}: field 'aliases' must be a list of non-empty names")
        if not isinstance(self.id, str) or not self.id.strip():
            raise ConfigError(f"{where}: field 'id' must be a non-empty string")
        if not isinstance(self.family, str) or not self.family.strip():
            raise ConfigError(f"{where}: field 'family' must be a non-empty string")
        if self.size_b is not None and (
            isinstance(self.size_b, bool)
            or not isinstance(self.size_b, (int, float))
            or self.size_b <= 0
        ):
            raise ConfigError(f"{where}: field 'size_b' must be a positive number or null")
        check_backend(self.backend, where)
        if not isinstance(self.model_args, dict):
            raise ConfigError(f"{where}: field 'model_args' must be a mapping")
        # One credential rule for the whole harness (harness.redact): what it would
        # scrub from an output must never be written into the registry either.
        secret = [k for k in self.model_args if is_secret_key(str(k))]
        if secret:
            raise ConfigError(
                f"{where}: field 'model_args' holds {secret[0]!r}; pass secrets through the "
                "environment, never the registry"
            )
        id_key = model_id_key(self.backend)
        if id_key in self.model_args:
            raise ConfigError(
                f"{where}: field 'model_args' holds {id_key!r}; put the model in field 'id'"
            )
        for flag in ("api", "gated"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"{where}: field {flag!r} must be true or false")

    def lm_eval_model_args(self) -> str:
        """The ``--model_args`` string for lm-eval."""
        args = {model_id_key(self.backend): self.id, **self.model_args}
        return ",".join(f"{k}={v}" for k, v in args.items())


_FIELDS = {f.name for f in fields(TeacherSpec)} - {"name"}
_REQUIRED = {"id", "family", "size_b"}


def parse_teachers(data: Any, source: str = "teachers.yaml") -> dict[str, TeacherSpec]:
    """Validate a loaded registry mapping into specs."""
    if not isinstance(data, dict) or not isinstance(data.get("teachers"), dict):
        raise ConfigError(f"{source}: expected a top-level 'teachers:' mapping")
    unknown_top = set(data) - {"teachers"}
    if unknown_top:
        # str(): YAML keys may be numbers or null, which neither sort with text nor match
        raise ConfigError(f"{source}: unknown top-level key {sorted(map(str, unknown_top))[0]!r}")
    specs: dict[str, TeacherSpec] = {}
    for name, entry in data["teachers"].items():
        if not isinstance(entry, dict):
            raise ConfigError(f"{source}: teacher {name!r} must be a mapping of fields")
        unknown = set(entry) - _FIELDS
        if unknown:
            bad = sorted(map(str, unknown))[0]
            near = difflib.get_close_matches(bad, sorted(_FIELDS), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ConfigError(f"{source}: teacher {name!r} has unknown field {bad!r}{hint}")
        missing = _REQUIRED - set(entry)
        if missing:
            raise ConfigError(f"{source}: teacher {name!r} is missing field {sorted(missing)[0]!r}")
        if str(name) in specs:  # e.g. `1:` and `"1":`, which YAML keeps apart
            raise ConfigError(f"{source}: teacher {str(name)!r} is defined twice")
        entry = {**entry, "model_args": entry.get("model_args") or {}}
        entry.setdefault("notes", "")
        aliases = entry.get("aliases", [])
        entry["aliases"] = tuple(aliases) if isinstance(aliases, list) else aliases
        specs[str(name)] = TeacherSpec(name=str(name), **entry)
    return specs


def _read_registry_text(path: Path) -> str:
    """The registry's text, or a :class:`ConfigError` naming the file and the problem."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(f"teacher registry not found: {path}") from exc
    except IsADirectoryError as exc:
        raise ConfigError(
            f"teacher registry {path} is a directory; pass the YAML file (e.g. {path}/teachers.yaml)"
        ) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read teacher registry {path}: {exc.strerror or exc}") from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}: line {line} is not UTF-8 text (byte 0x{raw[exc.start]:02x}); "
            "save the registry as UTF-8"
        ) from exc


def load_teachers(path: str | Path | None = None) -> dict[str, TeacherSpec]:
    """Load and validate a registry file (default: the bundled ``teachers.yaml``)."""
    import yaml

    path = Path(path) if path is not None else teachers_path()
    text = _read_registry_text(path)
    try:
        data = yaml.load(text, Loader=unique_key_loader())  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(
            f"{path}:{where} is not valid YAML ({getattr(exc, 'problem', exc)})"
        ) from exc
    return parse_teachers(data, str(path))


def get_teacher(name: str, registry: dict[str, TeacherSpec] | None = None) -> TeacherSpec:
    """Look a teacher up by registry name or model id."""
    registry = registry if registry is not None else load_teachers()
    if name in registry:
        return registry[name]
    for spec in registry.values():
        if spec.id == name:
            return spec
    raise UnknownTeacherError(name, difflib.get_close_matches(name, list(registry), n=3))


def _match_key(name: str) -> str:
    """``google/gemma-3-4b-it``, ``google__gemma-3-4b-it`` and ``Gemma-3-4B-it`` agree."""
    return slug(name).lower().split("__")[-1]


def find_teacher(name: str, registry: dict[str, TeacherSpec] | None = None) -> TeacherSpec | None:
    """The registry entry a results file means by ``name``, or None.

    Why looser than :func:`get_teacher`: score rows name a teacher by its full id, its
    slug, its bare model name (the paper's tables: ``Llama-3.1-70B-Instruct``) or an
    older name (``cohere-command-a``, listed under ``aliases``); all of them are the
    same teacher, and the analyses must find its size and family under any of them.
    """
    registry = registry if registry is not None else load_teachers()
    wanted = _match_key(name)
    for spec in registry.values():
        if wanted in {_match_key(n) for n in (spec.name, spec.id, *spec.aliases)}:
            return spec
    return None
