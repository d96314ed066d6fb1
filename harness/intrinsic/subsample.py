"""Which rows the intrinsic metrics measure: the protocol's balanced subsample.

Under both protocols (METHOD.md, "Protocol facts"), the metrics of a (teacher, language)
dataset are measured on :data:`~harness.protocol.INTRINSIC_SUBSAMPLE` valid rows, equal
per strategy (3,333 each) with the shortfall rule of :func:`harness.sampling.allocate`,
drawn with :data:`~harness.protocol.INTRINSIC_SUBSAMPLE_SEED`; a dataset with fewer valid
rows is measured whole. Measuring every valid row of a larger one (``all_rows``) is a
deviation, recorded as one. The subsample keeps the file's order, and the paper
protocol's batch-mean fluency batches the rows in that order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.protocol import INTRINSIC_SUBSAMPLE, INTRINSIC_SUBSAMPLE_SEED


@dataclass(frozen=True)
class Selection:
    """Which rows of a dataset the metrics measure (``index``) out of its first ``n_rows``."""

    n_rows: int
    index: list[int]  # positions in the file, ascending
    counts: dict[str, int]  # measured rows per strategy
    requested: int | None  # the subsample size asked for; None: every valid row

    @classmethod
    def of(
        cls, valid: Sequence[bool], strategies: Sequence[str], *, all_rows: bool = False
    ) -> Selection:
        """The protocol's balanced subsample of the valid rows (or all of them).

        With no more valid rows than the subsample size, every valid row is measured: the
        balanced draw would take them all.
        """
        valid = [bool(v) for v in valid]
        requested = None if all_rows else INTRINSIC_SUBSAMPLE
        if requested is None or sum(valid) <= requested:
            index = [i for i, v in enumerate(valid) if v]
        else:
            from harness.sampling import balanced_subsample

            rows = [
                {"row_index": i, "strategy": s, "valid": v}
                for i, (s, v) in enumerate(zip(strategies, valid, strict=True))
            ]
            chosen = balanced_subsample(
                rows, total=requested, by="strategy", seed=INTRINSIC_SUBSAMPLE_SEED
            )
            index = sorted(r["row_index"] for r in chosen)
        counts: dict[str, int] = {}
        for i in index:
            counts[strategies[i]] = counts.get(strategies[i], 0) + 1
        return cls(len(valid), index, dict(sorted(counts.items())), requested)

    @property
    def key(self) -> str:
        """A fingerprint of the measured rows: a cache key part for every sampled metric."""
        return hashlib.sha256(json.dumps(self.index).encode()).hexdigest()[:16]

    def record(self) -> dict[str, Any]:
        """What the summary says about the rows measured."""
        return {
            "subsample_size": len(self.index),
            "subsample_requested": self.requested,
            "subsample_per_strategy": self.counts,
        }


def select_rows(table: dict[str, list], *, limit: int | None, all_rows: bool) -> Selection:
    """The :class:`Selection` of a collected table's first ``limit`` rows (``valid``, ``strategy``)."""
    n = len(table["valid"]) if limit is None else min(limit, len(table["valid"]))
    return Selection.of(table["valid"][:n], table["strategy"][:n], all_rows=all_rows)
