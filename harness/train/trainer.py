"""Train one student on one collected (teacher, language) dataset with TRL's SFTTrainer.

The flow is plan -> build -> train, each public so tests and notebooks can stop at any
step: :func:`~harness.train.plan.plan_run` reads the data and resolves every per-run
choice without loading a model; :func:`~harness.train.sft.build_trainer` loads the base,
applies the family's chat template and picks the loss mask the protocol asks for;
:func:`train_student` (here) trains, resuming from the last checkpoint of the same data,
settings and protocol (:mod:`harness.train.resume`), saves, and writes the card and the
sidecar the scorer reads.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.protocol import Protocol, name_of
from harness.train.card import (
    SIDECAR,
    harness_version,
    read_sidecar,
    write_model_card,
    write_sidecar,
)
from harness.train.config import TrainConfig
from harness.train.plan import RunPlan, plan_run, protocol_record
from harness.train.resume import (
    CHECKPOINTS,
    resume_checkpoint,
    run_fingerprint,
    write_fingerprint,
)
from harness.train.sft import build_trainer, merge_adapter

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What :func:`train_student` did: where the student is and its metadata."""

    run_dir: Path
    metadata: dict[str, Any]
    skipped: bool = False
    resumed_from: str | None = None


def _hyperparameters(plan: RunPlan, loss_mask: str) -> dict[str, Any]:
    cfg = plan.config
    hyper: dict[str, Any] = {
        "mode": "lora" if plan.lora else "full",
        "learning_rate": plan.learning_rate,
        "num_train_epochs": cfg.num_train_epochs,
        "max_steps": cfg.max_steps,
        "max_length": cfg.max_length,
        "per_device_train_batch_size": cfg.per_device_train_batch_size,
        "gradient_accumulation_steps": cfg.gradient_accumulation_steps,
        "optim": plan.optim,
        "weight_decay": cfg.weight_decay,
        "lr_scheduler_type": cfg.lr_scheduler_type,
        "warmup_steps": cfg.warmup_steps,
        "seed": cfg.seed,
        "bf16": plan.bf16,
        "load_in_4bit": plan.load_in_4bit,
        "loss_mask": loss_mask,
        "total_rows": cfg.total_rows,
    }
    if plan.lora:
        hyper.update(
            lora_r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            lora_target_modules=cfg.lora_target_modules,
        )
    return hyper


def _remove_empty_dirs(folder: Path) -> None:
    """Remove ``folder`` and its subfolders if they hold no file at all."""
    if not folder.is_dir():
        return
    for root, _dirs, files in os.walk(folder, topdown=False):
        if files:
            return
        try:
            os.rmdir(root)
        except OSError:
            return


def _check_finished_protocol(run_dir: Path, done: dict[str, Any], protocol: Protocol) -> None:
    """A finished student of another protocol is not this run's student: never skip to it."""
    recorded = name_of(done.get("protocol"))
    if recorded != protocol.name:
        trained = f"under protocol {recorded!r}" if recorded else "before protocols were recorded"
        raise ConfigError(
            f"{run_dir} holds a student trained {trained}, not {protocol.name!r}; pass --overwrite "
            "to retrain it, or --out another folder to keep both"
        )


def train_student(config: TrainConfig, *, callbacks: list[Any] | None = None) -> TrainResult:
    """Train (or resume, or skip) one student; the run folder ends up self-describing.

    A finished run (its ``polyglot_run.json`` present) is skipped unless
    ``config.overwrite``, and refused when it was trained under another protocol; an
    unfinished one resumes from its last complete checkpoint under ``<run>/checkpoints``
    if that was trained on the same data, protocol and settings
    (:func:`resume_checkpoint`), so a killed job is simply rerun.

    Args:
        config: the run's configuration.
        callbacks: extra ``transformers.TrainerCallback`` objects (progress hooks, tests).

    Returns:
        Where the student is, with the sidecar's metadata.
    """
    plan = plan_run(config)
    run_dir = plan.run_dir
    done = read_sidecar(run_dir)
    if done is not None and not config.overwrite:
        _check_finished_protocol(run_dir, done, plan.protocol)
        logger.info("%s is already trained; pass --overwrite to train it again", run_dir)
        return TrainResult(run_dir=run_dir, metadata=done, skipped=True)
    if config.overwrite and done is not None:
        # Un-mark the finished run and start fresh checkpoints; the old weights stay until
        # the new ones are saved over them, and an interrupted retrain resumes normally.
        logger.info("retraining %s (--overwrite)", run_dir)
        (run_dir / SIDECAR).unlink()
        shutil.rmtree(run_dir / CHECKPOINTS, ignore_errors=True)

    existed = run_dir.exists()
    try:
        trainer, info = build_trainer(plan, callbacks)
    except BaseException:
        if not existed:
            _remove_empty_dirs(run_dir)  # a failed start leaves no empty run folder behind
        raise
    checkpoints = run_dir / CHECKPOINTS
    fingerprint = run_fingerprint(plan)
    last = resume_checkpoint(checkpoints, fingerprint)
    if last:
        logger.info("resuming %s from %s", run_dir.name, last.name)
    write_fingerprint(checkpoints, fingerprint)
    output = trainer.train(resume_from_checkpoint=str(last) if last else None)
    trainer.save_model(str(run_dir))  # the model or adapter, with the tokenizer
    tokenizer = trainer.processing_class
    merged = merge_adapter(plan, tokenizer) if plan.lora and config.merge_lora else None
    if not config.keep_checkpoints:
        shutil.rmtree(checkpoints, ignore_errors=True)

    metadata = {
        "role": "student",
        "student_family": plan.family.name,
        "teacher": plan.teacher,
        "target_language": plan.language,
        "base_model": plan.family.base_model,
        "reference_model": plan.family.reference_model,
        "dataset": str(plan.data_path.parent),
        "mode": "lora" if plan.lora else "full",
        "adapter": plan.lora,
        "merged_model": merged.name if merged else None,
        **info,
        "hyperparameters": _hyperparameters(plan, info["loss_mask"]),
        **plan.counts,
        "global_step": trainer.state.global_step,
        "train_loss": output.training_loss,
        "resumed_from": last.name if last else None,
        "protocol": protocol_record(plan),
        "harness_version": harness_version(),
    }
    write_model_card(run_dir, metadata)
    write_sidecar(run_dir, metadata)  # last: its presence marks the run finished
    logger.info("student written to %s", run_dir)
    return TrainResult(run_dir=run_dir, metadata=metadata, resumed_from=metadata["resumed_from"])
