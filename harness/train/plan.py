"""Resolve every choice of one training run before any model is loaded.

Split from the run itself so tests, notebooks and the grid can check a run's data,
lineage and per-run choices (protocol, LoRA, 4-bit, learning rate, optimizer,
precision) cheaply: :func:`plan_run` reads the dataset and fails early, loading no model.
"""

from __future__ import annotations

import importlib.util
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, EmptyDataError
from harness.files import data_file
from harness.models.preflight import check_model
from harness.naming import student_run_name
from harness.protocol import Protocol, resolve
from harness.sampling import DEFAULT_SEED, DEFAULT_TOTAL, balanced_subsample
from harness.schema import read_collected
from harness.train.config import FULL_LR, LORA_LR, TrainConfig
from harness.train.families import StudentFamily, load_families, resolve_student

logger = logging.getLogger(__name__)


@dataclass
class RunPlan:
    """Every choice of one run, resolved before any model is loaded."""

    config: TrainConfig
    protocol: Protocol
    family: StudentFamily
    data_path: Path
    run_dir: Path
    teacher: str
    language: str
    rows: Any  # datasets.Dataset: the balanced, valid training rows (all SFT columns)
    counts: dict[str, Any]
    lora: bool
    load_in_4bit: bool
    learning_rate: float
    optim: str
    bf16: bool


def find_dataset(dataset: str | Path | None) -> Path:
    """The parquet file of a collected dataset given its folder or the file itself."""
    if dataset is None:
        raise ConfigError("field 'dataset' is required: pass the folder <data>/<teacher>/<lang>")
    return data_file(dataset)


def read_dataset(path: Path) -> Any:
    """Load a collected parquet into an in-memory ``Dataset`` (no cache files written).

    The schema is enforced on read (:func:`harness.schema.read_collected`): a ``valid``
    column of NaN or nulls would otherwise count as valid and be trained on.

    Raises:
        SchemaError: a missing column, a wrong type, nulls in ``valid`` or invalid UTF-8.
    """
    from datasets import Dataset

    return Dataset(read_collected(path, require=("messages", "strategy")))


def _single(rows: Any, column: str, path: Path) -> str:
    """Lineage comes from the data's columns, which must name exactly one value."""
    if column not in rows.column_names:
        raise ConfigError(
            f"{path}: column {column!r} missing; not a collected dataset (see harness/schema.py)"
        )
    values = sorted({str(v) for v in rows[column]})
    if len(values) != 1:
        raise ConfigError(
            f"{path}: column {column!r} holds {values}; train on one (teacher, language) at a time"
        )
    return values[0]


def _check_base(family: StudentFamily, families: dict[str, StudentFamily]) -> None:
    """Fail in one line, before any folder is made, when the student's base will not load."""
    if family.registered:
        check_model(
            family.base_model, role=f"student family {family.name!r}: base model", flag="--student"
        )
    else:
        note = f" (not a family in students.yaml: {', '.join(families)})"
        check_model(family.base_model, role="student", flag="--student", note=note)


def _device() -> tuple[bool, bool]:
    import torch

    return torch.cuda.is_available(), importlib.util.find_spec("bitsandbytes") is not None


def plan_run(config: TrainConfig) -> RunPlan:
    """Read the data and resolve the run's choices; cheap, loads no model.

    Raises:
        InputNotFoundError: the dataset does not exist, or the student's base model does
            not resolve (not a folder, not cached, unknown to the Hub).
        SchemaError: the dataset breaks the collected schema.
        EmptyDataError: the dataset holds no rows, or no valid ones.
        ConfigError: mixed lineage, or 4-bit requested where it cannot run.
    """
    families = load_families(config.students_file)
    family = resolve_student(config.student, families)
    path = find_dataset(config.dataset)
    raw = read_dataset(path)
    if len(raw) == 0:
        raise EmptyDataError(f"{path} holds no rows; collect teacher outputs before training")
    teacher, language = _single(raw, "teacher", path), _single(raw, "language", path)
    n_valid = sum(bool(v) for v in raw["valid"])  # bool and non-null: checked on read
    if n_valid == 0:
        raise EmptyDataError(f"{path} holds {len(raw)} rows but no valid ones; nothing to train on")
    _check_base(family, families)
    # the draw's seed is the protocol's, not the run's: every student of a dataset sees
    # the same rows, whatever seed its training uses
    rows = balanced_subsample(
        raw, total=config.total_rows, by="strategy", seed=DEFAULT_SEED, valid_only=True
    )
    counts = {
        "n_rows": len(raw),
        "n_valid": n_valid,
        "n_invalid": len(raw) - n_valid,
        "n_train_rows": len(rows),
        "strategy_counts": dict(sorted(Counter(rows["strategy"]).items())),
    }

    cuda, bnb = _device()
    lora = config.lora if config.lora is not None else family.mode == "lora"
    if config.load_in_4bit and not lora:
        raise ConfigError(
            f"field 'load_in_4bit' needs LoRA; family {family.name!r} trains fully: add --lora"
        )
    if config.load_in_4bit and not (cuda and bnb):
        raise ConfigError(
            "field 'load_in_4bit' needs a CUDA GPU and bitsandbytes; drop --load-in-4bit here"
        )
    four_bit = bool(config.load_in_4bit) or (
        config.load_in_4bit is None and lora and family.load_in_4bit
    )
    if four_bit and not (cuda and bnb):
        logger.warning(
            "family %r asks for a 4-bit base; no CUDA GPU/bitsandbytes, so LoRA on full precision",
            family.name,
        )
        four_bit = False
    optim = config.optim
    if "8bit" in optim and not (cuda and (bnb or "torch_8bit" in optim)):
        logger.warning(
            "optimizer %s needs a CUDA GPU and bitsandbytes; falling back to adamw_torch", optim
        )
        optim = "adamw_torch"
    import torch

    bf16 = config.bf16 if config.bf16 is not None else cuda and torch.cuda.is_bf16_supported()
    return RunPlan(
        config=config,
        protocol=resolve(config.protocol),
        family=family,
        data_path=path,
        run_dir=Path(config.out) / student_run_name(family.name, teacher, language),
        teacher=teacher,
        language=language,
        rows=rows,
        counts=counts,
        lora=lora,
        load_in_4bit=four_bit,
        learning_rate=config.learning_rate or (LORA_LR if lora else FULL_LR),
        optim=optim,
        bf16=bool(bf16),
    )


def protocol_record(plan: RunPlan) -> dict[str, Any]:
    """The protocol the student was trained under, with the settings that leave it.

    The paper fixes the subsample size, LoRA's targets (all linear layers) and the
    family's chat template; a run that changes one is recorded as deviating, so its
    scores are never silently taken for the protocol's.
    """
    cfg = plan.config
    deviations: dict[str, Any] = {}
    if cfg.total_rows != DEFAULT_TOTAL:
        deviations["total_rows"] = cfg.total_rows
    if plan.lora and cfg.lora_target_modules != "all-linear":
        deviations["lora_target_modules"] = cfg.lora_target_modules
    if cfg.chat_template is not None:
        deviations["chat_template"] = cfg.chat_template
    return plan.protocol.record(deviations)
