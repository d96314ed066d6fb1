"""Train one student on one collected (teacher, language) dataset with TRL's SFTTrainer.

The flow is plan -> build -> train, each public so tests and notebooks can stop at any
step: :func:`plan_run` reads the data and resolves every per-run choice (protocol, LoRA,
4-bit, learning rate, optimizer, precision) without loading a model; :func:`build_trainer`
loads the base, applies the family's chat template and picks the loss mask the protocol
asks for; :func:`train_student` trains (resuming from the last checkpoint of the same
data, settings and protocol), saves, and writes the card and the sidecar the scorer reads.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import os
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, EmptyDataError
from harness.files import atomic_write_text, data_file
from harness.models.preflight import check_model
from harness.naming import student_run_name
from harness.protocol import Protocol, name_of, resolve
from harness.sampling import DEFAULT_SEED, DEFAULT_TOTAL, balanced_subsample
from harness.schema import fingerprint_content, read_collected
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
FINGERPRINT = "polyglot_fingerprint.json"  # next to the checkpoints: what they were trained on
_WEIGHTS = (
    "model.safetensors", "model.safetensors.index.json", "adapter_model.safetensors",
    "pytorch_model.bin", "pytorch_model.bin.index.json", "adapter_model.bin",
)  # fmt: skip


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
    loss_mask = choose_loss_mask(cfg.loss_mask, tokenizer, plan.protocol)
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
        peft_config = LoraConfig(  # all-linear: every linear layer but the output head
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


def run_fingerprint(plan: RunPlan) -> dict[str, Any]:
    """What a checkpoint must have been trained on to be resumed: data, protocol, settings.

    The data is identified by content (a byte-identical re-collect keeps the checkpoints);
    settings that only change bookkeeping (where, how often to save, what to keep) are left
    out, so changing them does not throw away training.
    """
    bookkeeping = {
        "dataset", "out", "overwrite", "keep_checkpoints", "merge_lora", "save_steps",
        "save_total_limit", "logging_steps", "students_file",
    }  # fmt: skip
    settings = {k: v for k, v in plan.config.to_dict().items() if k not in bookkeeping}
    fingerprint = {
        "data": fingerprint_content(plan.data_path),
        "protocol": protocol_record(plan),
        "base_model": plan.family.base_model,
        "family_chat_template": plan.family.chat_template,
        "family_replaces_base_template": plan.family.replace_base_template,
        "settings": settings,
        "resolved": {
            "lora": plan.lora,
            "load_in_4bit": plan.load_in_4bit,
            "learning_rate": plan.learning_rate,
            "optim": plan.optim,
            "bf16": plan.bf16,
        },
    }
    return json.loads(json.dumps(fingerprint))  # as it reads back from the file


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_fingerprint(checkpoints: Path, fingerprint: dict[str, Any]) -> None:
    atomic_write_text(checkpoints / FINGERPRINT, json.dumps(fingerprint, indent=1, sort_keys=True))


def _complete(checkpoint: Path) -> bool:
    """Trainer writes ``trainer_state.json`` last; with it and the weights, a checkpoint is whole."""
    state = _read_json(checkpoint / "trainer_state.json")
    return isinstance(state, dict) and any((checkpoint / name).is_file() for name in _WEIGHTS)


def _changes(old: dict[str, Any], new: dict[str, Any]) -> str:
    if old.get("data") != new.get("data"):
        return "the dataset changed"
    if name_of(old.get("protocol")) != name_of(new.get("protocol")):
        before = name_of(old.get("protocol")) or "unrecorded"
        return f"the protocol changed ({before} -> {name_of(new.get('protocol'))})"
    keys = ["protocol"] if old.get("protocol") != new.get("protocol") else []
    family = ("base_model", "family_chat_template", "family_replaces_base_template")
    keys += [k for k in family if old.get(k) != new.get(k)]
    for group in ("settings", "resolved"):
        a, b = old.get(group) or {}, new.get(group) or {}
        keys += sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return f"settings changed ({', '.join(dict.fromkeys(keys))})"


def resume_checkpoint(checkpoints: Path, fingerprint: dict[str, Any]) -> Path | None:
    """The newest complete checkpoint trained on the same data and settings, else None.

    A job killed while ``checkpoint-N`` was being written leaves it without
    ``trainer_state.json`` (or without weights); resuming from it crashed every rerun, so
    incomplete checkpoints are removed with a warning and the previous one is used.
    Checkpoints of other data or settings (see :func:`run_fingerprint`) are removed, and
    training restarts from scratch, saying why.
    """
    found = sorted(
        (p for p in checkpoints.glob("checkpoint-*") if p.is_dir() and p.name[11:].isdigit()),
        key=lambda p: int(p.name[11:]),
        reverse=True,
    )
    if not found:
        return None
    stored = _read_json(checkpoints / FINGERPRINT)
    if stored != fingerprint:
        why = (
            "hold no data fingerprint (an older harness wrote them)"
            if not isinstance(stored, dict)
            else f"were trained before {_changes(stored, fingerprint)}"
        )
        logger.warning(
            "checkpoints in %s %s: not resuming, training from scratch", checkpoints, why
        )
        for path in found:
            shutil.rmtree(path)
        return None
    for path in found:
        if _complete(path):
            return path
        logger.warning(
            "%s is incomplete (no trainer_state.json or weights: killed while saving?); "
            "removing it and resuming from an earlier checkpoint",
            path,
        )
        shutil.rmtree(path)
    logger.warning("no complete checkpoint in %s: training from scratch", checkpoints)
    return None


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
    _write_fingerprint(checkpoints, fingerprint)
    output = trainer.train(resume_from_checkpoint=str(last) if last else None)
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
        "resumed_from": last.name if last else None,
        "protocol": protocol_record(plan),
        "harness_version": harness_version(),
    }
    write_model_card(run_dir, metadata)
    write_sidecar(run_dir, metadata)  # last: its presence marks the run finished
    logger.info("student written to %s", run_dir)
    return TrainResult(run_dir=run_dir, metadata=metadata, resumed_from=metadata["resumed_from"])
