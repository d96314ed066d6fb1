"""The generate stage: teacher prompts, task documents, parsing and validity, and the
lm-eval runner the ``polyglot_*`` tasks and ``polyglot-harness generate`` share."""

from harness.generate.docs import build_docs
from harness.generate.langid import detect_language, detect_languages
from harness.generate.parse import ParsedPair, extract_pair
from harness.generate.runner import GenerationConfig, run_generation
from harness.generate.validity import Assessment, assess, is_refusal

__all__ = [
    "Assessment",
    "GenerationConfig",
    "ParsedPair",
    "assess",
    "build_docs",
    "detect_language",
    "detect_languages",
    "extract_pair",
    "is_refusal",
    "run_generation",
]
