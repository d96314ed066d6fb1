"""Resume bookkeeping: which checkpoints a rerun may continue from.

A killed job is simply rerun, so this decides what of the last one survives: the
checkpoints' fingerprint (:func:`run_fingerprint`) says what data, protocol and
settings they were trained on, and :func:`resume_checkpoint` keeps only complete
checkpoints of the same run, removing the rest and saying why.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from harness.files import atomic_write_text
from harness.naming import FINGERPRINT
from harness.protocol import name_of
from harness.schema import fingerprint_content
from harness.train.plan import RunPlan, protocol_record

logger = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
_WEIGHTS = (
    "model.safetensors", "model.safetensors.index.json", "adapter_model.safetensors",
    "pytorch_model.bin", "pytorch_model.bin.index.json", "adapter_model.bin",
)  # fmt: skip


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


def write_fingerprint(checkpoints: Path, fingerprint: dict[str, Any]) -> None:
    """Record beside the checkpoints what they are trained on, for the next rerun to check."""
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
