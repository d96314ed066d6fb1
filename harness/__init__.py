"""polyglot-harness: how good is a language model as a teacher of multilingual SFT data?

Importing the package imports nothing else: ``__version__`` is looked up (through
``importlib.metadata``, which alone costs tens of milliseconds) only when first asked for.
"""

from __future__ import annotations

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("polyglot-harness")
    except PackageNotFoundError:  # a source checkout that is not installed
        found = "0.0.0+unknown"
    globals()["__version__"] = found  # computed once
    return found
