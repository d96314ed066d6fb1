"""Thin glue for lm-eval's ``!function``: the logic lives in ``harness.generate``."""

from harness.generate.task_api import load_docs, process_results

__all__ = ["load_docs", "process_results"]
