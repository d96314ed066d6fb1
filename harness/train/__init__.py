"""The train stage: fine-tune a student on one teacher's collected data (TRL SFTTrainer)."""

from harness.train.config import TrainConfig, load_config
from harness.train.families import StudentFamily, load_families, resolve_student
from harness.train.plan import plan_run
from harness.train.sft import build_trainer
from harness.train.trainer import TrainResult, train_student

__all__ = [
    "StudentFamily",
    "TrainConfig",
    "TrainResult",
    "build_trainer",
    "load_config",
    "load_families",
    "plan_run",
    "resolve_student",
    "train_student",
]
