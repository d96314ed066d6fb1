"""Benchmark contamination: long n-gram overlap between synthetic rows and test items.

A teacher that reproduces benchmark items verbatim would make its students look good
for the wrong reason. A row is contaminated when it shares one n-gram with any
benchmark item: 13 words by default (the GPT-3 / Llama-2 reports' convention), or 50
characters for languages written without spaces. Text is NFKC-normalised, case
folded and stripped of punctuation first, so formatting does not hide a copy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from harness.errors import EmptyDataError
from harness.intrinsic.lexical import Unit, ngrams, tokenize, unit_for_language

DEFAULT_N: dict[str, int] = {"word": 13, "char": 50}


@dataclass(frozen=True)
class ContaminationResult:
    """How much of a synthetic dataset overlaps a benchmark, from both sides."""

    fraction: float  # contaminated rows / rows
    n_contaminated: int  # synthetic rows sharing an n-gram with some item
    n_rows: int
    n_matched_items: int  # benchmark items sharing an n-gram with some row
    n_items: int  # benchmark items that have at least one n-gram
    n_items_too_short: int  # items shorter than n units: cannot be checked, not matched
    n: int
    unit: str


def _gram_hashes(text: str, n: int, unit: Unit) -> set[int]:
    toks = tokenize(text, unit, strip_punctuation=True)
    return {hash(g) for g in ngrams(toks, n)}


def contamination(
    rows: Iterable[str],
    benchmark_items: Iterable[str],
    *,
    n: int | None = None,
    language: str | None = None,
    unit: Unit | None = None,
) -> ContaminationResult:
    """Fraction of synthetic rows sharing an n-gram with a benchmark, and items matched.

    Args:
        rows: Synthetic texts (e.g. ``prompt + "\\n" + response`` per row).
        benchmark_items: Benchmark texts (questions, passages, options joined...).
        n: n-gram length; default 13 for words, 50 for characters.
        language: ISO 639-1 code of the data; picks characters for Japanese.
        unit: Force ``"word"`` or ``"char"``; overrides ``language``.

    Returns:
        A :class:`ContaminationResult`. Items shorter than ``n`` units hold no n-gram and
        are reported in ``n_items_too_short`` rather than silently counted as clean.

    Raises:
        EmptyDataError: no synthetic rows.
    """
    unit = unit or unit_for_language(language)
    n = n or DEFAULT_N[unit]
    # Two hash sets (ints, not tuples) hold the n-grams; then each side is checked
    # against the other's set, so both counts come from one pass per side.
    item_grams: list[set[int]] = []
    too_short = 0
    bench_index: set[int] = set()
    for item in benchmark_items:
        grams = _gram_hashes(item, n, unit)
        if not grams:
            too_short += 1
            continue
        item_grams.append(grams)
        bench_index |= grams
    row_index: set[int] = set()
    n_rows = contaminated = 0
    for text in rows:
        n_rows += 1
        grams = _gram_hashes(text, n, unit)
        if not grams.isdisjoint(bench_index):
            contaminated += 1
            row_index |= grams & bench_index
    if n_rows == 0:
        raise EmptyDataError("contamination needs at least one synthetic row")
    matched = sum(not g.isdisjoint(row_index) for g in item_grams)
    return ContaminationResult(
        fraction=contaminated / n_rows,
        n_contaminated=contaminated,
        n_rows=n_rows,
        n_matched_items=matched,
        n_items=len(item_grams),
        n_items_too_short=too_short,
        n=n,
        unit=unit,
    )
