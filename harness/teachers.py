"""The teacher registry (``teachers.yaml``) as typed, validated specs.

Errors name the entry and the field, so a typo in a user's one-line addition is
found at load time, not an hour into a generation run.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, UnknownTeacherError
from harness.paths import teachers_path

BACKENDS = ("hf", "vllm", "local-chat-completions", "openai-chat-completions")
_SECRET_HINTS = ("key", "token", "secret", "password")


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

    def __post_init__(self) -> None:
        where = f"teacher {self.name!r}"
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
        if self.backend not in BACKENDS:
            raise ConfigError(
                f"{where}: field 'backend' is {self.backend!r}; use one of {', '.join(BACKENDS)}"
            )
        if not isinstance(self.model_args, dict):
            raise ConfigError(f"{where}: field 'model_args' must be a mapping")
        secret = [k for k in self.model_args if any(h in k.lower() for h in _SECRET_HINTS)]
        if secret:
            raise ConfigError(
                f"{where}: field 'model_args' holds {secret[0]!r}; pass secrets through the "
                "environment, never the registry"
            )
        for flag in ("api", "gated"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"{where}: field {flag!r} must be true or false")

    def lm_eval_model_args(self) -> str:
        """The ``--model_args`` string for lm-eval."""
        key = "model" if self.backend.endswith("chat-completions") else "pretrained"
        args = {key: self.id, **self.model_args}
        return ",".join(f"{k}={v}" for k, v in args.items())


_FIELDS = {f.name for f in fields(TeacherSpec)} - {"name"}
_REQUIRED = {"id", "family", "size_b"}


def parse_teachers(data: Any, source: str = "teachers.yaml") -> dict[str, TeacherSpec]:
    """Validate a loaded registry mapping into specs."""
    if not isinstance(data, dict) or not isinstance(data.get("teachers"), dict):
        raise ConfigError(f"{source}: expected a top-level 'teachers:' mapping")
    unknown_top = set(data) - {"teachers"}
    if unknown_top:
        raise ConfigError(f"{source}: unknown top-level key {sorted(unknown_top)[0]!r}")
    specs: dict[str, TeacherSpec] = {}
    for name, entry in data["teachers"].items():
        if not isinstance(entry, dict):
            raise ConfigError(f"{source}: teacher {name!r} must be a mapping of fields")
        unknown = set(entry) - _FIELDS
        if unknown:
            bad = sorted(unknown)[0]
            near = difflib.get_close_matches(bad, sorted(_FIELDS), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ConfigError(f"{source}: teacher {name!r} has unknown field {bad!r}{hint}")
        missing = _REQUIRED - set(entry)
        if missing:
            raise ConfigError(f"{source}: teacher {name!r} is missing field {sorted(missing)[0]!r}")
        entry = {**entry, "model_args": entry.get("model_args") or {}}
        entry.setdefault("notes", "")
        specs[str(name)] = TeacherSpec(name=str(name), **entry)
    return specs


def load_teachers(path: str | Path | None = None) -> dict[str, TeacherSpec]:
    """Load and validate a registry file (default: the bundled ``teachers.yaml``)."""
    import yaml

    path = Path(path) if path is not None else teachers_path()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"teacher registry not found: {path}") from exc
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
