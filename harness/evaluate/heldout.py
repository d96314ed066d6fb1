"""A held-out language-modelling benchmark for the embedded default pipeline.

On two CPU cores, a student of a few M parameters trained for a few dozen steps cannot
move accuracy on 10-item benchmark fixtures by more than noise. What it *can* move,
reliably, is how well it predicts fluent text in the target language. So the offline
demo scores students on the likelihood of held-out gold responses from the bundled seed
sample: the score is ``1 - bits_per_byte / 8``: 0 for a model no better than uniform
bytes, 1 for perfect prediction, higher is better (on the scale of an accuracy, so the
scorer's gap floor means the same thing). Seeds are split by position: even positions are held out
for this benchmark, odd positions train the demo's reference student. GPU users score
on the real suites (``polyglot_eval_<lang>``); this task is not in any group.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.naming import HELDOUT_TASKS, eval_task
from harness.schema import SeedRow

BENCHMARK = "heldout"  # its record: tasks/polyglot_eval/benchmarks/heldout.yaml
FOLDER = HELDOUT_TASKS  # under tasks/; in no group, outside the paper suites


def task_name(language: str) -> str:
    """The held-out leaf task of ``language``."""
    return eval_task(BENCHMARK, language)


def split_seed_rows(rows: list[SeedRow]) -> tuple[list[SeedRow], list[SeedRow]]:
    """(reference-training rows, held-out rows): odd and even positions."""
    return rows[1::2], rows[0::2]


def score_from_bits_per_byte(bits_per_byte: float) -> float:
    """The benchmark's score: the fraction of the 8 bits per byte the model saves."""
    return float(1.0 - bits_per_byte / 8.0)


def load_docs(*, language: str, seeds: str | None = None, **_metadata: Any) -> Any:
    """lm-eval ``custom_dataset``: the held-out seed responses of ``language``."""
    from datasets import Dataset, DatasetDict

    from harness.errors import EmptyDataError
    from harness.seeds import load_seed_rows

    _, heldout = split_seed_rows(load_seed_rows(language, seeds))
    texts = [r["response"].strip() for r in heldout if (r.get("response") or "").strip()]
    if not texts:
        raise EmptyDataError(f"no held-out seed responses for {language!r}")
    return DatasetDict({"test": Dataset.from_dict({"text": texts})})


def load_config(config: str, metadata: Mapping[str, Any]) -> Any:
    """The record's ``loader``: the config of a held-out leaf is its language code."""
    return load_docs(language=config, **metadata)
