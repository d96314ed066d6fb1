"""Artefact names, built and parsed in one place.

Names are for humans and file systems only: lineage (teacher, language, student
family, revisions) always also lives in dataset columns and card metadata.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_SLUG_BAD = re.compile(r"[^A-Za-z0-9._-]+")


def slug(name: str) -> str:
    """A file-system and repo-id safe form of a model id or path.

    ``google/gemma-3-4b-it`` -> ``google__gemma-3-4b-it``; local paths keep their last
    two parts so two checkpoints named ``final`` do not collide.
    """
    name = name.strip().rstrip("/")
    if name.startswith(("/", ".", "~")) or name.count("/") > 1:  # a path, not org/name
        name = "/".join(Path(name).expanduser().parts[-2:])
    return _SLUG_BAD.sub("-", name.replace("/", "__")).strip("-") or "unnamed"


def parse_model_args(model_args: Any) -> dict[str, str]:
    """lm-eval ``model_args`` (``"k=v,k2=v2"`` or a mapping, as results files hold it)."""
    if isinstance(model_args, Mapping):
        return {str(k): str(v) for k, v in model_args.items()}
    pairs = (part.split("=", 1) for part in str(model_args or "").split(",") if part.strip())
    return {p[0].strip(): (p[1] if len(p) == 2 else "") for p in pairs}


def model_from_args(model_args: Any) -> str | None:
    """The model an lm-eval run loaded: ``pretrained=`` (local backends) or ``model=`` (APIs)."""
    args = parse_model_args(model_args)
    return args.get("pretrained") or args.get("model") or None


def dataset_dir(root: str | Path, teacher: str, language: str) -> Path:
    """Where the collected dataset of one (teacher, language) lives."""
    return Path(root) / slug(teacher) / language


def student_run_name(student_family: str, teacher: str, language: str) -> str:
    """The folder (and repo) name of one trained student."""
    return f"{slug(student_family)}--{slug(teacher)}--{language}"


def parse_student_run_name(name: str) -> tuple[str, str, str]:
    """Inverse of :func:`student_run_name` (teacher and family as slugs)."""
    parts = name.split("--")
    if len(parts) != 3:
        raise ValueError(f"not a student run name: {name!r} (expected family--teacher--lang)")
    return parts[0], parts[1], parts[2]


def eval_run_name(
    role: str, student_family: str, teacher: str | None = None, language: str | None = None
) -> str:
    """The folder of one model's lm-eval output under the evaluate stage's ``--out``.

    The role leads, so a base, its reference and its students sort apart and a base
    named like a student run can never collide with one; the sidecar inside, not this
    name, is what ``score`` reads.

    Raises:
        ValueError: unknown role, or a student without teacher and language.
    """
    if role == "student":
        if not teacher or not language:
            raise ValueError("a student's eval run name needs its teacher and language")
        return f"student--{student_run_name(student_family, teacher, language)}"
    if role in ("base", "reference"):  # per language where one model serves one language
        return f"{role}--{slug(student_family)}" + (f"--{language}" if language else "")
    raise ValueError(f"unknown role {role!r}; expected student, base or reference")


def hub_repo_id(org: str, kind: str, *parts: str) -> str:
    """``org/polyglot-<kind>-<parts...>`` within the Hub's 96-character limit."""
    base = "-".join(["polyglot", kind, *(slug(p) for p in parts)])
    base = re.sub(r"-{2,}", "-", base.replace("__", "-"))[:96].strip("-.")
    return f"{org}/{base}"
