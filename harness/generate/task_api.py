"""What the lm-eval task YAMLs call (through the thin ``tasks/polyglot/utils.py``).

lm-eval hands ``custom_dataset`` the task's metadata merged with ``--metadata`` plus the
YAML's ``dataset_kwargs``, so a user steers generation from the command line:
``--metadata '{"seeds": "seeds/", "n_docs": 3500, "seed": 7}'``.
"""

from __future__ import annotations

from typing import Any

from harness.generate.validity import assess
from harness.schema import TaskDoc

# The per-document metrics process_results returns; taskgen aggregates the same names.
METRICS = ("valid", "lang_match", "prompt_chars", "response_chars")


def load_docs(
    *,
    language: str,
    strategy: str,
    seeds: str | None = None,
    n_docs: int | None = None,
    seed: int = 1234,
    **_ignored: Any,
) -> Any:
    """``custom_dataset`` entry point: a ``DatasetDict`` with one ``test`` split."""
    from datasets import Dataset, DatasetDict

    from harness.generate.docs import build_docs

    docs = build_docs(
        language,
        strategy,
        seeds=seeds,
        n_docs=None if n_docs is None else int(n_docs),
        seed=int(seed),
    )
    return DatasetDict({"test": Dataset.from_list([dict(d) for d in docs])})


def process_results(doc: TaskDoc, results: list[str]) -> dict[str, float]:
    """Per-document metrics lm-eval aggregates into the task's printed table.

    The collected dataset recomputes the verdict from the raw output, so these
    numbers are a live preview, not the record.
    """
    verdict = assess(
        doc["strategy"], results[0] if results else "", doc["language"],
        source_prompt=doc["source_prompt"],
    )  # fmt: skip
    values = (
        verdict.valid,
        verdict.detected_language == doc["language"],
        len(verdict.prompt),
        len(verdict.response),
    )
    return {name: float(value) for name, value in zip(METRICS, values, strict=True)}
