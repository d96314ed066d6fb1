"""Artefact names, built and parsed in one place.

Names are for humans and file systems only: lineage (teacher, language, student
family, revisions) always also lives in dataset columns and card metadata.
"""

from __future__ import annotations

import re
from pathlib import Path

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


def hub_repo_id(org: str, kind: str, *parts: str) -> str:
    """``org/polyglot-<kind>-<parts...>`` within the Hub's 96-character limit."""
    base = "-".join(["polyglot", kind, *(slug(p) for p in parts)])
    base = re.sub(r"-{2,}", "-", base.replace("__", "-"))[:96].strip("-.")
    return f"{org}/{base}"
