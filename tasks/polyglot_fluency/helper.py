"""Thin lm-eval glue for ``polyglot_fluency``; the logic lives in ``harness.intrinsic``."""

from __future__ import annotations

import math
from typing import Any

from harness.intrinsic.fluency_lm_eval import load_fluency_docs, row_perplexity


def load(fluency_data: str | None = None, **_: Any) -> Any:
    """The ``custom_dataset``: lm-eval passes the task metadata (and --metadata) as kwargs."""
    import datasets

    if not fluency_data:
        raise ValueError(
            "polyglot_fluency needs the rows to score: "
            '--metadata \'{"fluency_data": "<teacher>/<lang>/data.parquet"}\' (or a .jsonl of '
            "prompt/response rows)"
        )
    return datasets.DatasetDict(
        {"test": datasets.Dataset.from_list(load_fluency_docs(fluency_data))}
    )


def doc_to_text(doc: dict[str, Any]) -> str:
    return doc["prompt"]  # the context, exactly: no template, no delimiter


def doc_to_target(doc: dict[str, Any]) -> str:
    return doc["response"]  # the continuation whose tokens are scored


def process_results(doc: dict[str, Any], results: list[tuple[float, bool]]) -> dict[str, float]:
    """The row's loglikelihood and, where its token count is known, its perplexity."""
    loglikelihood = float(results[0][0])
    return {
        "loglikelihood": loglikelihood,
        "perplexity": row_perplexity(loglikelihood, int(doc.get("n_tokens") or 0)),
    }


def nanmean(items: list[float]) -> float:
    """Mean over rows with a perplexity (NaN: no token count, or nothing to score)."""
    kept = [x for x in items if not math.isnan(x)]
    return sum(kept) / len(kept) if kept else math.nan
