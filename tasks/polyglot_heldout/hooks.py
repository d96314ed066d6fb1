"""Thin glue for lm-eval's ``!function``: the logic lives in ``harness.evaluate.heldout``."""

from harness.evaluate.heldout import load_docs as load_heldout

__all__ = ["load_heldout"]
