"""The TRL side of a run: load the base, build the ``SFTTrainer``, merge a LoRA adapter.

Kept apart from planning and bookkeeping because it is the only part that loads
models and talks to transformers, TRL and PEFT (all imported inside the functions):
:func:`build_trainer` applies the family's chat template, picks the loss mask the
protocol asks for and prepares the dataset, but trains nothing.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from harness.train.families import apply_chat_template, choose_loss_mask
from harness.train.plan import RunPlan
from harness.train.resume import CHECKPOINTS

MERGED = "merged"


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


def merge_adapter(plan: RunPlan, tokenizer: Any) -> Path:
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
