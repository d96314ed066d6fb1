"""Models the harness builds or unpacks itself, for offline demos and tests."""

from harness.models.smollm2 import smollm2_path
from harness.models.tiny import build_tiny_model

__all__ = ["build_tiny_model", "smollm2_path"]
