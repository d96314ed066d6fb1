"""Hugging Face ``evaluate`` metric modules shipped inside the package.

Each module is a folder ``<name>/`` holding ``<name>.py`` (the ``evaluate.Metric``),
its metric card ``README.md`` and the Space files (``app.py``, ``requirements.txt``),
the layout of the metric folders in the ``evaluate`` repository. ``evaluate.load``
takes the folder's path, which works offline::

    import evaluate
    from harness.metrics import path

    pg = evaluate.load(path("pg_score"))
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import InputNotFoundError

METRICS_DIR = Path(__file__).resolve().parent


def available() -> list[str]:
    """The metric modules shipped with the package."""
    return sorted(p.name for p in METRICS_DIR.iterdir() if (p / f"{p.name}.py").is_file())


def path(name: str) -> str:
    """The folder of metric module ``name``, as the string ``evaluate.load`` expects.

    Raises:
        InputNotFoundError: no such module (the message lists the shipped ones).
    """
    folder = METRICS_DIR / name
    if not (folder / f"{name}.py").is_file():
        raise InputNotFoundError(
            f"no metric module {name!r} in polyglot-harness; available: {', '.join(available())}"
        )
    return str(folder)
