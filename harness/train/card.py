"""The trained student's lineage: a model card for people and the Hub, a sidecar for the scorer.

Lineage lives in metadata, never only in the run folder's name: the card's YAML header
(``base_model``, ``datasets``, ``language``, plus a ``polyglot`` block) and
``polyglot_run.json`` carry the family, teacher, language, the protocol (so the scorer
never ranks students of different protocols together) and every hyperparameter.
The sidecar is written last, so its presence marks a finished run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.files import atomic_write, atomic_write_text
from harness.naming import RUN_RECORD

SIDECAR = RUN_RECORD
CARD = "README.md"


def harness_version() -> str:
    """The polyglot-harness version, recorded so a student can be traced to the code."""
    from harness import __version__

    return __version__


def write_sidecar(run_dir: Path, metadata: dict[str, Any]) -> Path:
    """Write ``polyglot_run.json``, atomically, because its presence means "finished"."""
    text = json.dumps(metadata, indent=2, ensure_ascii=False, default=str) + "\n"
    return atomic_write_text(run_dir / SIDECAR, text)


def read_sidecar(run_dir: Path) -> dict[str, Any] | None:
    """The sidecar of a finished run, or ``None`` when the run has not finished."""
    path = run_dir / SIDECAR
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _table(values: dict[str, Any]) -> str:
    rows = ["| hyperparameter | value |", "|---|---|"]
    rows += [f"| {key} | `{value}` |" for key, value in values.items()]
    return "\n".join(rows)


def write_model_card(run_dir: Path, metadata: dict[str, Any]) -> Path:
    """Write the student's ``README.md`` with Hub metadata and a human summary.

    Args:
        run_dir: the run folder (model or adapter already saved there).
        metadata: the sidecar's content (see :func:`harness.train.trainer.train_student`).

    Returns:
        The card's path.
    """
    from huggingface_hub import ModelCard, ModelCardData

    lora = metadata.get("mode") == "lora"
    data = ModelCardData(
        base_model=metadata["base_model"],
        datasets=[metadata["dataset"]],
        language=[metadata["target_language"]],
        library_name="peft" if lora else "transformers",
        pipeline_tag="text-generation",
        tags=["polyglot-harness", "sft", "trl", "synthetic-data", *(["lora"] if lora else [])],
        polyglot={
            "role": "student",
            "student_family": metadata["student_family"],
            "teacher": metadata["teacher"],
            "target_language": metadata["target_language"],
            "reference_model": metadata.get("reference_model"),
            "n_train_rows": metadata["n_train_rows"],
            "protocol": metadata.get("protocol"),
            "hyperparameters": metadata["hyperparameters"],
        },
    )
    reference = metadata.get("reference_model")
    anchor = (
        f"the reference model `{reference}`"
        if reference
        else "a reference model chosen at scoring time"
    )
    counts = ", ".join(f"{k}: {v}" for k, v in metadata.get("strategy_counts", {}).items())
    protocol = metadata.get("protocol") or {}
    deviations = ", ".join(f"{k}={v}" for k, v in (protocol.get("deviations") or {}).items())
    body = f"""
# {Path(run_dir).name}

A **{metadata["student_family"]}** student (base `{metadata["base_model"]}`) fine-tuned with
TRL's `SFTTrainer` ({metadata.get("mode", "full")} fine-tuning) on synthetic
`{metadata["target_language"]}` instruction data written by the teacher
**`{metadata["teacher"]}`**, as in *Polyglot Teachers* (arXiv 2604.11290).

It exists to measure the teacher, not to be deployed: its benchmark scores, relative to
its base and to {anchor}, make up the
teacher's Polyglot Score.

## Training data
- Dataset: `{metadata["dataset"]}` ({metadata.get("n_rows")} rows collected,
  {metadata.get("n_invalid")} invalid and excluded).
- Trained on {metadata["n_train_rows"]} valid rows, balanced across generation
  strategies ({counts}).
- Loss on: {metadata.get("loss_mask")} tokens; chat template: {metadata.get("chat_template_source")}.
- Protocol: `{protocol.get("name", "unrecorded")}`{f" (deviating: {deviations})" if deviations else ""}.

## Hyperparameters
{_table(metadata["hyperparameters"])}

Written by polyglot-harness {metadata.get("harness_version")}.
"""
    card = ModelCard(f"---\n{data.to_yaml()}\n---\n{body}")
    return atomic_write(run_dir / CARD, card.save)
