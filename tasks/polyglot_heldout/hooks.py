"""Thin glue for lm-eval's ``!function``: the logic lives in ``harness.evaluate``."""

from harness.evaluate.benchmarks import load_docs as load

__all__ = ["load"]
