"""Student families: which base is fine-tuned, with which chat template, against which reference.

Families are data (``students.yaml`` next to this module), not code, so adding a student
to the grid is a YAML edit. A name that is not a family is treated as a model id or a
local folder and used as-is, so any causal LM can be a student without registering it.
The family also decides how training data is rendered (its chat template) and hence
which tokens can carry the loss, so those two decisions live here too: the protocol
(:mod:`harness.protocol`) decides whether the loss covers the whole rendered
conversation (the paper) or the assistant's tokens only (``assistant_only_loss``).
"""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.protocol import Protocol

logger = logging.getLogger(__name__)

STUDENTS_YAML = Path(__file__).resolve().parent / "students.yaml"
MODES: tuple[str, ...] = ("full", "lora")


@dataclass(frozen=True)
class StudentFamily:
    """One student family as declared in ``students.yaml``.

    Attributes:
        name: the family's key (``olmo3``), or the model id when used ad hoc.
        base_model: model id or local folder that is fine-tuned.
        reference_model: PGR's upper anchor for this family; ``None`` for ad-hoc students.
        chat_template: model id / folder whose tokenizer template is used, a ``.jinja``
            path (relative to the students file, or the working folder), or inline
            Jinja; used when the base ships no template of its own.
        replace_base_template: render with ``chat_template`` even when the base ships a
            template (the paper renders OLMo-3 with Llama 3.1's, not OLMo's own).
        mode: ``"full"`` or ``"lora"``, the default training mode.
        load_in_4bit: quantize the base for LoRA where a GPU and bitsandbytes exist.
        description: free text for the model card.
        registered: whether the family came from ``students.yaml``.
    """

    name: str
    base_model: str
    reference_model: str | None = None
    chat_template: str | None = None
    replace_base_template: bool = False
    mode: str = "full"
    load_in_4bit: bool = False
    description: str = ""
    registered: bool = True


_ENTRY_KEYS = {f.name for f in fields(StudentFamily)} - {"name", "registered"}
_REQUIRED = ("base_model", "reference_model")


def _parse_entry(name: str, entry: Any, source: Path) -> StudentFamily:
    """Validate one YAML entry, naming the entry and field in every error."""
    where = f"{source}: student family {name!r}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a mapping of keys, got {type(entry).__name__}")
    for key in entry:
        if key not in _ENTRY_KEYS:
            close = difflib.get_close_matches(str(key), sorted(_ENTRY_KEYS), n=1)
            hint = (
                f"; did you mean {close[0]!r}?"
                if close
                else f" (known: {', '.join(sorted(_ENTRY_KEYS))})"
            )
            raise ConfigError(f"{where}: unknown field {key!r}{hint}")
    for key in _REQUIRED:
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise ConfigError(f"{where}: field {key!r} is required and must be a model id")
    mode = entry.get("mode", "full")
    if mode not in MODES:
        raise ConfigError(f"{where}: field 'mode' is {mode!r}; expected one of {', '.join(MODES)}")
    for key in ("load_in_4bit", "replace_base_template"):
        if not isinstance(entry.get(key, False), bool):
            raise ConfigError(f"{where}: field {key!r} is {entry[key]!r}; expected true or false")
    four_bit = entry.get("load_in_4bit", False)
    if four_bit and mode != "lora":
        raise ConfigError(
            f"{where}: field 'load_in_4bit' needs mode 'lora' (4-bit weights cannot be fully trained)"
        )
    for key in ("chat_template", "description"):
        if entry.get(key) is not None and not isinstance(entry[key], str):
            raise ConfigError(f"{where}: field {key!r} must be a string")
    template = entry.get("chat_template")
    if entry.get("replace_base_template") and not template:
        raise ConfigError(f"{where}: field 'replace_base_template' needs a 'chat_template'")
    if template and template.endswith(".jinja") and (source.parent / template).is_file():
        # the bundled families name their templates beside this file, offline
        entry = {**entry, "chat_template": str((source.parent / template).resolve())}
    return StudentFamily(name=name, **entry)


def load_families(path: str | Path | None = None) -> dict[str, StudentFamily]:
    """Read and validate a students file.

    Args:
        path: a YAML file in the ``students.yaml`` format; the bundled one by default.

    Returns:
        The families by name, in file order.

    Raises:
        ConfigError: the file is not a mapping, or an entry has an unknown or invalid field.
    """
    import yaml

    source = Path(path) if path is not None else STUDENTS_YAML
    if not source.is_file():
        raise ConfigError(f"students file {source} does not exist; pass an existing YAML file")
    data = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of family name -> fields")
    return {str(name): _parse_entry(str(name), entry, source) for name, entry in data.items()}


def resolve_student(
    student: str, families: dict[str, StudentFamily] | None = None
) -> StudentFamily:
    """The family named ``student``, or an ad-hoc family around a model id or folder.

    Ad-hoc students are fine-tuned fully with their own chat template and have no
    reference model: PGR for them needs a reference supplied at scoring time.
    """
    families = load_families() if families is None else families
    if student in families:
        return families[student]
    if not student.strip():
        raise ConfigError("student is empty; pass a family name from students.yaml or a model id")
    close = difflib.get_close_matches(student, list(families), n=1, cutoff=0.75)
    if close and "/" not in student and not Path(student).exists():
        raise ConfigError(
            f"unknown student family {student!r}; did you mean {close[0]!r}? "
            "(or pass a model id such as org/name, or a local folder)"
        )
    logger.info(
        "student %r is not a registered family; using it as a model id/folder as-is", student
    )
    return StudentFamily(name=student, base_model=student, registered=False)


def apply_chat_template(
    model: Any, tokenizer: Any, family: StudentFamily, override: str | None = None
) -> tuple[Any, str]:
    """Give the tokenizer the template the data is rendered with; returns (model, source).

    An explicit ``chat_template`` wins; then the family's when it replaces the base's
    (``replace_base_template``); otherwise the base's own template; a base without one
    gets its family's. Templates taken from another tokenizer go through TRL's
    ``clone_chat_template``, which adds missing special tokens and resizes embeddings; a
    ``.jinja`` file or inline Jinja is set as is (its markers stay text, no tokens added).
    """
    family_wins = family.replace_base_template or not tokenizer.chat_template
    source = override or (family.chat_template if family_wins else None)
    if source is None:
        if tokenizer.chat_template:
            return model, f"base model {family.base_model}"
        raise ConfigError(
            f"{family.base_model} has no chat template and student {family.name!r} declares none; "
            "pass --chat-template (a model id, a .jinja file or inline Jinja)"
        )
    if "{%" in source or "{{" in source:
        tokenizer.chat_template = source
        return model, "inline Jinja"
    if Path(source).is_file():
        tokenizer.chat_template = Path(source).read_text(encoding="utf-8")
        return model, f"file {source}"
    from trl import clone_chat_template

    model, _, _ = clone_chat_template(model, tokenizer, source)
    return model, f"tokenizer of {source}"


def choose_loss_mask(requested: str, tokenizer: Any, protocol: Protocol) -> str:
    """Resolve ``loss_mask`` under ``protocol``: which tokens carry labels.

    The paper trains on the whole rendered conversation (``full``). With the
    ``assistant_only_loss`` correction the loss is on the assistant's tokens where the
    template can mark them: TRL masks through ``{% generation %}`` markers and patches a
    known template that lacks them; any other template falls back to completion-only
    loss (the final assistant turn, via TRL's prompt-completion format) with a warning.
    :class:`~harness.train.config.TrainConfig` has already refused a ``loss_mask`` that
    contradicts the protocol.
    """
    if not protocol.corrects("assistant_only_loss"):
        return "full"
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    can_mask = has_generation_markers(tokenizer.chat_template)
    if not can_mask:
        try:
            can_mask = get_training_chat_template(tokenizer) is not None
        except ValueError:
            can_mask = False
    if requested == "assistant" and not can_mask:
        raise ConfigError(
            "loss_mask 'assistant' needs a chat template with {% generation %} markers; use 'completion' or 'auto'"
        )
    if requested == "auto":
        if can_mask:
            return "assistant"
        logger.warning(
            "chat template has no {%% generation %%} markers: loss on the final assistant turn only"
        )
        return "completion"
    return requested
