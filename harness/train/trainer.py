"""Train one student on one collected (teacher, language) dataset with TRL's SFTTrainer.

The flow is plan -> build -> train, each public so tests and notebooks can stop at any
step: :func:`plan_run` reads the data and resolves every per-run choice (LoRA, 4-bit,
learning rate, optimizer, precision) without loading a model; :func:`build_trainer`
loads the base, applies the family's chat template and picks the loss mask;
:func:`train_student` trains (resuming from the last checkpoint), saves, and writes the
card and the sidecar the scorer reads.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, EmptyDataError, InputNotFoundError
from harness.naming import student_run_name
from harness.sampling import balanced_subsample
from harness.schema import DATA_FILE
from harness.train.card import (
    SIDECAR,
    harness_version,
    read_sidecar,
    write_model_card,
    write_sidecar,
)
from harness.train.config import FULL_LR, LORA_LR, TrainConfig
from harness.train.families import (
    StudentFamily,
    apply_chat_template,
    choose_loss_mask,
    load_families,
    resolve_student,
)

logger = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
MERGED = "merged"


@dataclass
class RunPlan:
    """Every choice of one run, resolved before any model is loaded."""

    config: TrainConfig
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


@dataclass
class TrainResult:
    """What :func:`train_student` did: where the student is and its metadata."""

    run_dir: Path
    metadata: dict[str, Any]
    skipped: bool = False
    resumed_from: str | None = None


def find_dataset(dataset: str | Path | None) -> Path:
    """The parquet file of a collected dataset given its folder or the file itself."""
    if dataset is None:
        raise ConfigError("field 'dataset' is required: pass the folder <data>/<teacher>/<lang>")
    path = Path(dataset)
    if path.is_dir():
        path = path / DATA_FILE
    if not path.is_file():
        raise InputNotFoundError(f"{path} does not exist; run `polyglot-harness collect` first")
    return path


def read_dataset(path: Path) -> Any:
    """Load a collected parquet into an in-memory ``Dataset`` (no cache files written)."""
    import pyarrow.parquet as pq
    from datasets import Dataset

    return Dataset(pq.read_table(path))


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


def _device() -> tuple[bool, bool]:
    import torch

    return torch.cuda.is_available(), importlib.util.find_spec("bitsandbytes") is not None


def plan_run(config: TrainConfig) -> RunPlan:
    """Read the data and resolve the run's choices; cheap, loads no model.

    Raises:
        InputNotFoundError: the dataset does not exist.
        EmptyDataError: the dataset holds no rows, or no valid ones.
        ConfigError: mixed lineage, or 4-bit requested where it cannot run.
    """
    family = resolve_student(config.student, load_families(config.students_file))
    path = find_dataset(config.dataset)
    raw = read_dataset(path)
    if len(raw) == 0:
        raise EmptyDataError(f"{path} holds no rows; collect teacher outputs before training")
    teacher, language = _single(raw, "teacher", path), _single(raw, "language", path)
    n_valid = sum(bool(v) for v in raw["valid"]) if "valid" in raw.column_names else len(raw)
    if n_valid == 0:
        raise EmptyDataError(f"{path} holds {len(raw)} rows but no valid ones; nothing to train on")
    rows = balanced_subsample(
        raw, total=config.total_rows, by="strategy", seed=config.seed, valid_only=True
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


def _load_base(plan: RunPlan, *, quantize: bool) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict[str, Any] = {"dtype": torch.bfloat16 if plan.bf16 else torch.float32}
    if quantize:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16 if plan.bf16 else torch.float16,
        )
        kwargs["device_map"] = {"": torch.cuda.current_device()}
    model = AutoModelForCausalLM.from_pretrained(plan.family.base_model, **kwargs)
    return model, AutoTokenizer.from_pretrained(plan.family.base_model)


def _format_rows(rows: Any, loss_mask: str) -> Any:
    """Only the conversation reaches TRL (our ``prompt`` column would read as prompt-completion)."""
    messages = rows.select_columns(["messages"])
    if loss_mask != "completion":
        return messages

    def split(example: dict[str, Any]) -> dict[str, Any]:
        turns = example["messages"]
        return {"prompt": turns[:-1], "completion": turns[-1:]}

    return messages.map(split, remove_columns=["messages"])


def build_trainer(plan: RunPlan, callbacks: list[Any] | None = None) -> tuple[Any, dict[str, str]]:
    """Load the base and wrap everything in an ``SFTTrainer`` (dataset prepared, not trained).

    Returns:
        The trainer, and ``{"loss_mask": ..., "chat_template_source": ...}`` for the card.
    """
    from trl import SFTConfig, SFTTrainer

    cfg = plan.config
    model, tokenizer = _load_base(plan, quantize=plan.load_in_4bit)
    model, template_source = apply_chat_template(model, tokenizer, plan.family, cfg.chat_template)
    loss_mask = choose_loss_mask(cfg.loss_mask, tokenizer)
    # transformers 5 renamed gradient_checkpointing; passing the old name only warns
    names = {f.name for f in dataclasses.fields(SFTConfig)}
    checkpointing = (
        "activation_checkpointing"
        if "activation_checkpointing" in names
        else "gradient_checkpointing"
    )
    args = SFTConfig(
        output_dir=str(plan.run_dir / CHECKPOINTS),
        num_train_epochs=cfg.num_train_epochs,
        max_steps=cfg.max_steps,
        learning_rate=plan.learning_rate,
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        optim=plan.optim,
        weight_decay=cfg.weight_decay,
        lr_scheduler_type=cfg.lr_scheduler_type,
        warmup_steps=cfg.warmup_steps,
        seed=cfg.seed,
        data_seed=cfg.seed,
        max_length=cfg.max_length,
        bf16=plan.bf16,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit,
        logging_steps=cfg.logging_steps,
        report_to="none",
        assistant_only_loss=loss_mask == "assistant",
        completion_only_loss=loss_mask == "completion",
        **{checkpointing: cfg.gradient_checkpointing},
    )
    peft_config = None
    if plan.lora:
        from peft import LoraConfig

        targets = cfg.lora_target_modules
        peft_config = LoraConfig(
            r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            target_modules=targets
            if targets == "all-linear"
            else [t.strip() for t in targets.split(",")],
            task_type="CAUSAL_LM",
        )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=_format_rows(plan.rows, loss_mask),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=callbacks,
    )
    return trainer, {"loss_mask": loss_mask, "chat_template_source": template_source}


def _merge_adapter(plan: RunPlan, tokenizer: Any) -> Path:
    """Merge the saved adapter into a full-precision copy of the base (4-bit cannot be merged)."""
    from peft import PeftModel

    model, _ = _load_base(plan, quantize=False)
    if model.get_input_embeddings().num_embeddings != len(tokenizer):
        model.resize_token_embeddings(len(tokenizer))
    merged = PeftModel.from_pretrained(model, str(plan.run_dir)).merge_and_unload()
    out = plan.run_dir / MERGED
    merged.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


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


def train_student(config: TrainConfig, *, callbacks: list[Any] | None = None) -> TrainResult:
    """Train (or resume, or skip) one student; the run folder ends up self-describing.

    A finished run (its ``polyglot_run.json`` present) is skipped unless
    ``config.overwrite``; an unfinished one resumes from its last checkpoint under
    ``<run>/checkpoints``, so a killed job is simply rerun.

    Args:
        config: the run's configuration.
        callbacks: extra ``transformers.TrainerCallback`` objects (progress hooks, tests).

    Returns:
        Where the student is, with the sidecar's metadata.
    """
    from transformers.trainer_utils import get_last_checkpoint

    plan = plan_run(config)
    run_dir = plan.run_dir
    done = read_sidecar(run_dir)
    if done is not None and not config.overwrite:
        logger.info("%s is already trained; pass --overwrite to train it again", run_dir)
        return TrainResult(run_dir=run_dir, metadata=done, skipped=True)
    if config.overwrite and done is not None:
        # Un-mark the finished run and start fresh checkpoints; the old weights stay until
        # the new ones are saved over them, and an interrupted retrain resumes normally.
        logger.info("retraining %s (--overwrite)", run_dir)
        (run_dir / SIDECAR).unlink()
        shutil.rmtree(run_dir / CHECKPOINTS, ignore_errors=True)
    run_dir.mkdir(parents=True, exist_ok=True)

    trainer, info = build_trainer(plan, callbacks)
    checkpoints = run_dir / CHECKPOINTS
    last = get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
    if last:
        logger.info("resuming %s from %s", run_dir.name, last)
    output = trainer.train(resume_from_checkpoint=last)
    trainer.save_model(str(run_dir))  # the model or adapter, with the tokenizer
    tokenizer = trainer.processing_class
    merged = _merge_adapter(plan, tokenizer) if plan.lora and config.merge_lora else None
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
        "resumed_from": Path(last).name if last else None,
        "harness_version": harness_version(),
    }
    write_model_card(run_dir, metadata)
    write_sidecar(run_dir, metadata)  # last: its presence marks the run finished
    logger.info("student written to %s", run_dir)
    return TrainResult(run_dir=run_dir, metadata=metadata, resumed_from=metadata["resumed_from"])
