"""Thin lm-eval glue for ``polyglot_judge``; the logic lives in ``harness.intrinsic``."""

from __future__ import annotations

import math
from typing import Any

from harness.intrinsic.judge import counted_score, load_judge_docs, parse_judgement
from harness.intrinsic.rubrics import judge_prompt


def load(
    judge_data: str | None = None,
    judge_include_invalid: bool = False,
    protocol: str | None = None,
    **_: Any,
) -> Any:
    """The ``custom_dataset``: lm-eval passes the task metadata (and --metadata) as kwargs."""
    import datasets

    if not judge_data:
        raise ValueError(
            "polyglot_judge needs the dataset to judge: "
            '--metadata \'{"judge_data": "<teacher>/<lang>/data.parquet"}\''
        )
    docs = load_judge_docs(
        judge_data, include_invalid=bool(judge_include_invalid), protocol=protocol
    )
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(docs)})


def doc_to_text(doc: dict[str, Any]) -> str:
    return judge_prompt(doc["prompt"], doc["response"], doc["language"])


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """The row's score under the doc's protocol: unparseable is 1 (paper) or NaN (excluded)."""
    judgement = parse_judgement(results[0] if results else "")
    score = counted_score(judgement.score, doc.get("protocol"))
    return {
        "judge_score": float(score) if score is not None else math.nan,
        "parse_rate": float(judgement.parsed),
    }


def nanmean(items: list[float]) -> float:
    """Mean over the counted judgements; excluded (NaN) ones show in ``parse_rate``."""
    kept = [x for x in items if not math.isnan(x)]
    return sum(kept) / len(kept) if kept else math.nan
