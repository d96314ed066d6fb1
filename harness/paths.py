"""Where the package's data lives, in a wheel and in a source checkout alike.

The wheel places ``tasks/`` and ``teachers.yaml`` inside the package; a source checkout
(or an editable install) keeps them at the repository root, as the design card asks.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def _first_existing(name: str) -> Path:
    for candidate in (PACKAGE_DIR / name, PACKAGE_DIR.parent / name):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(
        f"polyglot-harness: cannot find {name!r} next to the package at {PACKAGE_DIR}; "
        "reinstall polyglot-harness"
    )


def tasks_path() -> Path:
    """The folder holding our lm-eval task YAMLs (what ``--include_path`` would take)."""
    return _first_existing("tasks")


def teachers_path() -> Path:
    """The bundled teacher registry."""
    return _first_existing("teachers.yaml")


def seeds_path() -> Path:
    """The bundled seed sample (one JSONL file per language, plus English sources)."""
    return PACKAGE_DIR / "seeds_data"
