"""Summary statistics of collected rows, for the CLI's table and the dataset cards.

Kept apart from collecting: it reads any ``Dataset`` of collected rows and writes
nothing, so the cards and the demo can summarise data without collecting it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{k}:{v}" for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def stats_rows(dataset: Any) -> list[dict[str, Any]]:
    """Per (teacher, language, strategy) counts and rates, for the summary table.

    ``top_invalid`` counts every invalid reason (most frequent first), so a reason
    such as ``undetermined_language`` is never hidden behind the others.
    ``correction_flags`` counts the valid rows the refusal and language corrections
    would make invalid (none under ``corrected``): what adopting them would cost.
    """
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in dataset:
        groups[(row["teacher"], row["language"], row["strategy"])].append(row)
    out = []
    for (teacher, language, strategy), rows in sorted(groups.items()):
        valid = [r for r in rows if r["valid"]]
        reasons: Counter[str] = Counter(r["invalid_reason"] for r in rows if r["invalid_reason"])
        flags: Counter[str] = Counter(
            r.get("correction_reason") for r in valid if r.get("correction_reason")
        )
        out.append(
            {
                "teacher": teacher,
                "language": language,
                "strategy": strategy,
                "rows": len(rows),
                "valid_rate": len(valid) / len(rows),
                "lang_match_rate": sum(r["detected_language"] == language for r in rows) / len(rows),
                "mean_prompt_chars": sum(len(r["prompt"]) for r in valid) / len(valid) if valid else None,
                "mean_response_chars": sum(len(r["response"]) for r in valid) / len(valid) if valid else None,
                "top_invalid": _counts(reasons),
                "correction_flags": _counts(flags),
            }
        )  # fmt: skip
    return out
