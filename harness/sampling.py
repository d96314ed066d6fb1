"""Training subsets: 10,500 pairs per (teacher, language), 3,500 per strategy.

The paper's rule (METHOD.md, "Protocol facts"): each strategy gets an equal share; a
strategy with fewer rows than its share gives its shortfall to the *largest* strategy,
not spread over all the others. The sizes and the seed are protocol constants
(:mod:`harness.protocol`), shared by both protocols. Which rows are drawn is fixed by the
seed, so a training set is reproducible from its collected dataset alone.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from harness.errors import ConfigError, EmptyDataError
from harness.protocol import TRAIN_PER_STRATEGY, TRAIN_SUBSAMPLE_SEED
from harness.schema import STRATEGIES

logger = logging.getLogger(__name__)

DEFAULT_TOTAL = TRAIN_PER_STRATEGY * len(STRATEGIES)
DEFAULT_SEED = TRAIN_SUBSAMPLE_SEED


def allocate(counts: Mapping[str, int], total: int) -> dict[str, int]:
    """Split ``total`` across groups: equal shares, each shortfall to the largest group.

    Every group first takes ``total // len(counts)`` rows, or all it has; the indivisible
    remainder adds one row each to the groups with the most rows (ties by name). Whatever
    the short groups could not fill then goes to the group with the most rows, as the
    paper's training subsample does (this is not water-filling: the other groups keep
    their equal share). When the largest group cannot absorb it all, the rest goes to the
    next largest, and so on, until the total is met or every row is used. The result
    depends only on the counts.

    Returns:
        ``{group: rows to draw}``, summing to ``min(total, sum(counts))``.
    """
    if not counts:
        return {}
    by_size = sorted(counts, key=lambda g: (-counts[g], g))
    share, extra = divmod(total, len(counts))
    quota = {
        g: min(counts[g], share + (1 if rank < extra else 0)) for rank, g in enumerate(by_size)
    }
    left = total - sum(quota.values())
    for g in by_size:  # largest first
        if left <= 0:
            break
        take = min(left, counts[g] - quota[g])
        quota[g] += take
        left -= take
    return {g: quota[g] for g in sorted(counts)}


def _column(data: Any, name: str) -> list[Any] | None:
    if isinstance(data, Sequence):
        if not data or name not in data[0]:
            return None
        return [row[name] for row in data]
    if name not in data.column_names:
        return None
    return list(data[name])


def balanced_subsample(
    rows_or_dataset: Any,
    total: int = DEFAULT_TOTAL,
    by: str = "strategy",
    seed: int = DEFAULT_SEED,
    *,
    valid_only: bool = True,
) -> Any:
    """Draw a subset of ``total`` rows balanced across the values of column ``by``.

    Args:
        rows_or_dataset: A ``datasets.Dataset`` or a list of dicts.
        total: Rows wanted (paper: 10,500). If fewer are available, all are returned
            and a warning logged: a short dataset is a finding, not an error.
        by: The column to balance across. Every value present in the data is a group,
            also one whose rows are all invalid: its share goes to the largest group,
            as the paper's strategy with no usable rows did.
        seed: Seed of the draw within each group.
        valid_only: Draw only rows whose ``valid`` column is true (when there is one);
            invalid rows are kept in the raw data but never trained on.

    Returns:
        The same kind of container: a ``Dataset`` (via ``select``) or a new list.
        Rows keep their original relative order.

    Raises:
        ConfigError: ``total`` is not positive or the column ``by`` is missing.
        EmptyDataError: no (valid) rows.
    """
    if total < 1:
        raise ConfigError(f"total must be a positive number of rows, got {total}")
    keys = _column(rows_or_dataset, by)
    if keys is None:
        raise ConfigError(f"cannot balance by {by!r}: the data has no such column")
    valid = _column(rows_or_dataset, "valid") if valid_only else None
    candidates = [i for i in range(len(keys)) if valid is None or valid[i]]
    if not candidates:
        raise EmptyDataError(f"no {'valid ' if valid is not None else ''}rows to subsample")

    groups: dict[str, list[int]] = {str(key): [] for key in keys}
    for i in candidates:
        groups[str(keys[i])].append(i)
    quota = allocate({g: len(idx) for g, idx in groups.items()}, total)
    if sum(quota.values()) < total:
        logger.warning(
            "only %d rows available for a balanced subsample of %d (%s)",
            sum(quota.values()),
            total,
            ", ".join(f"{g}={len(groups[g])}" for g in sorted(groups)),
        )

    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    for g in sorted(groups):  # fixed order, so each group's draw is reproducible
        if not groups[g]:
            continue
        idx = np.asarray(groups[g])
        pick = rng.permutation(len(idx))[: quota[g]]
        chosen.extend(idx[pick].tolist())
    chosen.sort()

    if isinstance(rows_or_dataset, Sequence):
        return [rows_or_dataset[i] for i in chosen]
    return rows_or_dataset.select(chosen)
