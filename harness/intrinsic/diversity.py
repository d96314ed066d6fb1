"""Embedding diversity ("distinct_ri"): 1 - mean off-diagonal cosine similarity.

The paper builds the full n x n similarity matrix, which is O(n^2) in time and memory
and cannot score a million rows. With unit vectors ``e_i`` and ``s = sum_i e_i``,

    sum_{i != j} e_i . e_j = |s|^2 - sum_i |e_i|^2 = |s|^2 - n,

so the mean off-diagonal similarity is ``(|s|^2 - n) / (n (n - 1))``: one pass, O(n d)
time, O(d) memory, and batches can be streamed from an encoder or from disk.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import numpy as np

from harness.errors import EmptyDataError

logger = logging.getLogger(__name__)

# Rows per block when one big array is given, so it is read once in order.
_BLOCK_ROWS = 65_536
# Rows normalised at once: a float64 working copy of ~25 MB at d=384.
_WORK_ROWS = 8_192


class DiversityAccumulator:
    """Running state of :func:`distinct_ri`, fed one batch of embeddings at a time.

    Use it directly when your own loop produces the batches (for instance while it also
    writes them to disk); :func:`distinct_ri` otherwise.

    Rows whose norm is zero (or not finite) have no direction, so they cannot take
    part in a cosine similarity; the paper's matrix code would turn them into NaN and
    poison the whole score. They are skipped and counted in :attr:`n_skipped` instead.
    """

    def __init__(self) -> None:
        self.sum: np.ndarray | None = None  # s = sum of unit rows, float64
        self.sq_norms = 0.0  # sum of |e_i|^2, exactly n up to rounding
        self.n = 0
        self.n_skipped = 0

    def update(self, batch: Any) -> None:
        """Add one 2-D batch (rows are embeddings); works on any array-like.

        Raises:
            ValueError: the batch is not 2-D or its width differs from earlier batches.
        """
        arr = np.asarray(batch)
        if arr.ndim != 2:
            raise ValueError(f"embeddings must be a 2-D (rows x dims) array, got shape {arr.shape}")
        if self.sum is not None and arr.shape[1] != self.sum.shape[0]:
            raise ValueError(
                f"embedding width changed between batches: {arr.shape[1]} != {self.sum.shape[0]}"
            )
        if self.sum is None:
            self.sum = np.zeros(arr.shape[1], dtype=np.float64)
        # Sub-blocks bound the float64 working copy whatever batch size the caller uses.
        for start in range(0, arr.shape[0], _WORK_ROWS):
            self._add(arr[start : start + _WORK_ROWS])

    def _add(self, block: np.ndarray) -> None:
        # float64 so that 1M-row sums keep ~1e-10 relative precision.
        rows = block.astype(np.float64)  # always a copy: normalised in place below
        norms = np.sqrt(np.einsum("ij,ij->i", rows, rows))
        keep = np.isfinite(norms) & (norms > 0)
        n_bad = int(keep.size - np.count_nonzero(keep))
        if n_bad:
            self.n_skipped += n_bad
            rows, norms = rows[keep], norms[keep]
        rows /= norms[:, None]
        self.sum += rows.sum(axis=0)  # type: ignore[operator]  # set by update()
        # The exact diagonal of the would-be matrix, so rounding in the normalisation
        # cannot leak into the off-diagonal mean.
        self.sq_norms += float(np.einsum("ij,ij->", rows, rows))
        self.n += rows.shape[0]

    def mean_similarity(self) -> float:
        """Mean cosine similarity over all ordered pairs i != j.

        Raises:
            EmptyDataError: fewer than two usable rows were seen.
        """
        if self.n < 2 or self.sum is None:
            skipped = (
                f" ({self.n_skipped} zero or non-finite rows skipped)" if self.n_skipped else ""
            )
            raise EmptyDataError(
                f"distinct_ri needs at least 2 embeddings with non-zero norm, got {self.n}"
                f"{skipped}; check that the dataset has at least two valid rows"
            )
        off_diagonal = float(self.sum @ self.sum) - self.sq_norms
        return off_diagonal / (self.n * (self.n - 1))

    def value(self) -> float:
        """The diversity, ``1 - mean_similarity()``; see :func:`distinct_ri`."""
        if self.n_skipped:
            logger.warning("distinct_ri skipped %d zero or non-finite embeddings", self.n_skipped)
        return 1.0 - self.mean_similarity()


def _batches(embeddings: Any) -> Iterable[Any]:
    """One array is cut into row blocks; anything else iterable is a stream of batches."""
    if isinstance(embeddings, np.ndarray) or hasattr(embeddings, "__array__"):
        arr = np.asarray(embeddings)
        if arr.ndim != 2:
            raise ValueError(f"embeddings must be 2-D (rows x dims), got shape {arr.shape}")
        return (arr[i : i + _BLOCK_ROWS] for i in range(0, max(arr.shape[0], 1), _BLOCK_ROWS))
    return embeddings


def distinct_ri(embeddings: Any) -> float:
    """Diversity of a set of texts: 1 - mean off-diagonal cosine similarity.

    Equal, up to float rounding, to the paper's ``1 - mean(sim[~eye])`` with
    ``sim = E @ E.T`` of the unit rows, but computed from the sum of the unit rows, so
    the cost is O(n d) time and O(d) memory whatever n is (METHOD.md, "Intrinsic
    metrics"). That is what lets a 1M-row dataset be scored from a stream.

    Args:
        embeddings: A 2-D array (rows are embeddings; torch tensors on CPU work too)
            or an iterable of 2-D arrays, e.g. the generator :func:`embed_texts`
            returns. Rows need not be normalised. Zero rows are skipped (logged),
            since a zero vector has no cosine with anything.

    Returns:
        A float in [0, 2]: 0 when all rows point the same way, ~1 for unrelated
        directions.

    Raises:
        EmptyDataError: fewer than two non-zero rows.
        ValueError: a batch is not 2-D or batches differ in width.
    """
    acc = DiversityAccumulator()
    for batch in _batches(embeddings):
        acc.update(batch)
    return acc.value()
