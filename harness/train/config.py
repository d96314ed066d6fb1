"""The one configuration of the train stage, with the paper's hyperparameters as defaults.

Every field's ``help`` is the only documentation of it: the CLI flags, ``--config`` YAML
keys and the model card's hyperparameter table are all derived from this dataclass.
Fields left ``None`` are resolved per run (learning rate by mode, precision by device,
LoRA and 4-bit by the student family).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.protocol import DEFAULT, resolve
from harness.sampling import DEFAULT_TOTAL

LOSS_MASKS: tuple[str, ...] = ("auto", "assistant", "completion", "full")
FULL_LR = 5e-5
LORA_LR = 5e-6


@dataclass
class TrainConfig:
    """How one student is trained on one collected (teacher, language) dataset."""

    dataset: str | None = field(
        default=None,
        metadata={
            "help": "Collected dataset: a folder <data>/<teacher>/<lang> holding data.parquet, or the "
            "parquet file itself.",
            "positional": True,
        },
    )
    student: str = field(
        default="olmo3",
        metadata={
            "help": "Student family from students.yaml (olmo3, gemma3-4b, llama3.1-8b, qwen3-8b) or any "
            "model id / local folder, used as-is."
        },
    )
    out: str = field(
        default="students",
        metadata={
            "help": "Folder under which the run folder <family>--<teacher>--<lang> is written."
        },
    )
    students_file: str | None = field(
        default=None,
        metadata={"help": "A students.yaml to use instead of the bundled one."},
    )
    lora: bool | None = field(
        default=None,
        metadata={
            "help": "Train a LoRA adapter (--lora) or all weights (--no-lora); default: the family's mode."
        },
    )
    load_in_4bit: bool | None = field(
        default=None,
        metadata={
            "help": "Load the base in 4-bit for LoRA (needs a CUDA GPU and bitsandbytes); default: the "
            "family's setting where possible, otherwise full precision."
        },
    )
    merge_lora: bool = field(
        default=False,
        metadata={
            "help": "After LoRA training, also save the adapter merged into the base under <run>/merged."
        },
    )
    chat_template: str | None = field(
        default=None,
        metadata={
            "help": "Chat template to render the training data with: a model id or folder, a .jinja file, or "
            "inline Jinja; overrides both the base's and the family's template."
        },
    )
    loss_mask: str = field(
        default="auto",
        metadata={
            "help": "Which tokens carry loss: 'auto' follows the protocol: 'full' (every token of the "
            "rendered conversation) under paper; under assistant_only_loss 'assistant' (the template's "
            "{% generation %} blocks) where the template allows it, else 'completion' (everything after "
            "the user turn), with a warning. An explicit value must agree with the protocol.",
            "choices": LOSS_MASKS,
        },
    )
    total_rows: int = field(
        default=DEFAULT_TOTAL,
        metadata={
            "help": "Training rows drawn from the valid rows: an equal share per generation strategy, a "
            "strategy's shortfall to the largest one (drawn with the protocol's fixed seed); another "
            "value is recorded as a deviation from the protocol."
        },
    )
    num_train_epochs: float = field(
        default=2.0, metadata={"help": "Passes over the training rows."}
    )
    max_steps: int = field(
        default=-1,
        metadata={"help": "Stop after this many optimizer steps (overrides epochs when > 0)."},
    )
    learning_rate: float | None = field(
        default=None,
        metadata={
            "help": f"Peak learning rate; default {FULL_LR:g} for full fine-tuning, {LORA_LR:g} for LoRA."
        },
    )
    max_length: int = field(
        default=16_384,
        metadata={"help": "Longest tokenized conversation; longer ones are truncated at the end."},
    )
    per_device_train_batch_size: int = field(
        default=2, metadata={"help": "Conversations per device and step."}
    )
    gradient_accumulation_steps: int = field(
        default=4,
        metadata={
            "help": "Micro-batches accumulated per optimizer step (effective batch = batch x this)."
        },
    )
    optim: str = field(
        default="adamw_8bit",
        metadata={
            "help": "Optimizer name as transformers knows it; 8-bit optimizers fall back to adamw_torch "
            "(logged) without a CUDA GPU and bitsandbytes."
        },
    )
    weight_decay: float = field(default=0.001, metadata={"help": "AdamW weight decay."})
    lr_scheduler_type: str = field(
        default="linear", metadata={"help": "Learning-rate schedule after warm-up."}
    )
    warmup_steps: int = field(default=5, metadata={"help": "Linear warm-up steps."})
    seed: int = field(
        default=3407,
        metadata={
            "help": "Seed of the data order and initialisation (the row draw uses the protocol's fixed "
            "seed, so every student of a dataset sees the same rows)."
        },
    )
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(
        default=16, metadata={"help": "LoRA scaling numerator (alpha / r scales updates)."}
    )
    lora_dropout: float = field(default=0.0, metadata={"help": "Dropout on the LoRA path."})
    lora_target_modules: str = field(
        default="all-linear",
        metadata={
            "help": "Modules LoRA adapts: 'all-linear' (both protocols: every linear layer but the "
            "output head) or a comma-separated list of module names, recorded as a deviation."
        },
    )
    bf16: bool | None = field(
        default=None,
        metadata={"help": "Train in bfloat16; default: on where the GPU supports it, off on CPU."},
    )
    gradient_checkpointing: bool = field(
        default=True,
        metadata={
            "help": "Recompute activations in the backward pass: long conversations fit in memory."
        },
    )
    save_steps: int = field(
        default=500, metadata={"help": "Write a resumable checkpoint every this many steps."}
    )
    save_total_limit: int = field(
        default=2, metadata={"help": "Checkpoints kept; older ones are deleted."}
    )
    logging_steps: int = field(default=10, metadata={"help": "Log the loss every this many steps."})
    keep_checkpoints: bool = field(
        default=False,
        metadata={
            "help": "Keep <run>/checkpoints after the run finishes (they hold optimizer state, several times "
            "the model's size); an unfinished run always keeps them to resume from."
        },
    )
    overwrite: bool = field(
        default=False,
        metadata={
            "help": "Delete an existing run folder (finished or not) and train from scratch."
        },
    )
    protocol: str = field(
        default=DEFAULT,
        metadata={
            "help": "Protocol: 'paper' (loss over the whole rendered conversation, as the paper), "
            "'corrected', 'paper+<correction>+...' or 'corrected-<correction>'; the correction that "
            "matters here is assistant_only_loss. Recorded in the card, the sidecar and the checkpoints."
        },
    )

    def __post_init__(self) -> None:
        """Reject invalid values at construction, naming the field and what would be valid."""
        positive_int = (
            "total_rows",
            "max_length",
            "per_device_train_batch_size",
            "gradient_accumulation_steps",
            "lora_r",
            "lora_alpha",
            "save_steps",
            "save_total_limit",
            "logging_steps",
        )
        for name in positive_int:
            _check_int(self, name, minimum=1)
        _check_int(self, "warmup_steps", minimum=0)
        _check_int(self, "seed", minimum=0)
        _check_int(self, "max_steps", minimum=-1)
        if self.max_steps == 0:
            raise ConfigError(
                "field 'max_steps' is 0; use a positive number of steps, or -1 for epochs"
            )
        _check_number(self, "num_train_epochs", positive=True)
        _check_number(self, "weight_decay", positive=False)
        if self.learning_rate is not None:
            _check_number(self, "learning_rate", positive=True)
        if not 0.0 <= float(self.lora_dropout) < 1.0:
            raise ConfigError(
                f"field 'lora_dropout' is {self.lora_dropout!r}; expected 0 <= dropout < 1"
            )
        if self.loss_mask not in LOSS_MASKS:
            raise ConfigError(
                f"field 'loss_mask' is {self.loss_mask!r}; expected one of {', '.join(LOSS_MASKS)}"
            )
        if not isinstance(self.protocol, str):
            raise ConfigError(f"field 'protocol' is {self.protocol!r}; expected a protocol name")
        self.protocol = resolve(self.protocol).name
        _check_loss_mask(self.loss_mask, self.protocol)
        for name in ("student", "out", "optim", "lr_scheduler_type", "lora_target_modules"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"field {name!r} is {value!r}; expected a non-empty string")
        for name in ("lora", "load_in_4bit", "bf16"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), bool):
                raise ConfigError(
                    f"field {name!r} is {getattr(self, name)!r}; expected true, false or null"
                )
        if self.load_in_4bit and self.lora is False:
            raise ConfigError(
                "field 'load_in_4bit' needs LoRA: 4-bit weights cannot be fully fine-tuned"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain values, for YAML, JSON sidecars and model cards."""
        return dataclasses.asdict(self)


def _check_loss_mask(loss_mask: str, protocol: str) -> None:
    """An explicit loss mask must be the protocol's, or the protocol is not what ran."""
    chosen = resolve(protocol)
    assistant_only = chosen.corrects("assistant_only_loss")
    if assistant_only and loss_mask == "full":
        raise ConfigError(
            f"field 'loss_mask' is 'full' but protocol {protocol!r} has the assistant_only_loss "
            "correction; use a protocol without it (e.g. paper) or loss_mask auto"
        )
    if not assistant_only and loss_mask in ("assistant", "completion"):
        with_it = resolve("+".join(["paper", *chosen.corrections, "assistant_only_loss"])).name
        raise ConfigError(
            f"field 'loss_mask' is {loss_mask!r} but protocol {protocol!r} trains on the whole "
            f"rendered conversation; pass --protocol {with_it} or loss_mask auto"
        )


def _check_int(cfg: TrainConfig, name: str, *, minimum: int) -> None:
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"field {name!r} is {value!r}; expected an integer >= {minimum}")


def _check_number(cfg: TrainConfig, name: str, *, positive: bool) -> None:
    value = getattr(cfg, name)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ConfigError(f"field {name!r} is {value!r}; expected a finite number {bound}")


def config_fields() -> dict[str, dataclasses.Field]:
    """The config's fields by name (what the CLI and YAML loader accept)."""
    return {f.name: f for f in dataclasses.fields(TrainConfig)}


def _coerce(spec: dataclasses.Field, value: Any) -> Any:
    """Read YAML 1.1 strings such as ``5e-5`` (not a float to PyYAML) as the field's number."""
    if not isinstance(value, str):
        return value
    kind = str(spec.type)
    try:
        if kind.startswith("float"):
            return float(value)
        if kind.startswith("int"):
            return int(value)
    except ValueError:
        raise ConfigError(f"field {spec.name!r} is {value!r}; expected a number") from None
    return value


def load_config(
    path: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> TrainConfig:
    """Build a config from an optional YAML file, then command-line overrides on top.

    Args:
        path: a YAML mapping of field names to values (``--config``).
        overrides: values that win over the file (flags given on the command line).

    Raises:
        ConfigError: unknown keys (with the closest field suggested) or invalid values.
    """
    values: dict[str, Any] = {}
    known = config_fields()
    if path is not None:
        import yaml

        source = Path(path)
        if not source.is_file():
            raise ConfigError(f"config file {source} does not exist")
        data = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping of TrainConfig fields")
        for key in data:
            if key not in known:
                close = difflib.get_close_matches(str(key), list(known), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ConfigError(f"{source}: unknown field {key!r}{hint}")
        values.update({key: _coerce(known[key], value) for key, value in data.items()})
    for key, value in (overrides or {}).items():
        if key not in known:
            raise ConfigError(f"unknown field {key!r}")
        values[key] = value
    return TrainConfig(**values)
