"""Thin lm-eval hooks for the polyglot_eval tasks; the logic lives in harness.evaluate.

lm-eval resolves ``!function hooks.<name>`` next to the template that names it, so
these names are the only contract between the YAMLs and the package. ``load`` serves
every benchmark: its record (``benchmarks/<name>.yaml``) says how its data loads.
"""

from __future__ import annotations

from harness.evaluate import mgsm, mrewardbench
from harness.evaluate.benchmarks import load_docs as load

__all__ = [
    "load",
    "mgsm_process_results",
    "mrewardbench_doc_to_text",
    "mrewardbench_process_results",
    "weighted_accuracy",
]

mgsm_process_results = mgsm.process_results
mrewardbench_doc_to_text = mrewardbench.doc_to_text
mrewardbench_process_results = mrewardbench.process_results
weighted_accuracy = mrewardbench.aggregate
