"""polyglot-harness: how good is a language model as a teacher of multilingual SFT data?"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("polyglot-harness")
except PackageNotFoundError:  # a source checkout that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
