"""Every error the harness raises on purpose, in one place.

Each subclass also inherits the built-in it refines, so callers that already catch
``ValueError`` or ``FileNotFoundError`` keep working; messages say what to do.
"""

from __future__ import annotations


class HarnessError(Exception):
    """Base class of all polyglot-harness errors."""


class ConfigError(HarnessError, ValueError):
    """A configuration file or option is malformed or holds an invalid value."""


class UnknownLanguageError(HarnessError, KeyError):
    """A language code that neither our table nor lingua knows."""

    def __init__(self, code: str, known: list[str] | None = None) -> None:
        self.code = code
        hint = f" (known: {', '.join(known)})" if known else ""
        super().__init__(f"unknown language code {code!r}: use an ISO 639-1 code{hint}")

    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return str(self.args[0])


class UnknownTeacherError(HarnessError, KeyError):
    """A teacher name not in the registry."""

    def __init__(self, name: str, suggestions: list[str] | None = None) -> None:
        self.name = name
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"unknown teacher {name!r} in the registry{hint}")

    def __str__(self) -> str:
        return str(self.args[0])


class SchemaError(ConfigError):
    """A data file breaks the schema of ``harness/schema.py`` (missing column, wrong type, nulls)."""


class EmptyDataError(HarnessError, ValueError):
    """An input that must hold rows holds none."""


class InputNotFoundError(HarnessError, FileNotFoundError):
    """An input path does not exist or holds none of the expected files."""


class HubError(HarnessError, RuntimeError):
    """A Hugging Face Hub operation failed for a reason retrying will not fix."""


class MissingRequirementError(HarnessError, ImportError):
    """An optional package a command needs is not installed (checked before any work)."""
