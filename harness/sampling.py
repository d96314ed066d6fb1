"""Balanced training subsets: 10.5k pairs per (teacher, language), equal per strategy.

METHOD.md: each strategy gets an equal share; a strategy with fewer rows than its
share gives the shortfall to the strategies that have more, repeatedly, until the
total is met or every row is used. Which rows are drawn is fixed by the seed, so a
training set is reproducible from its collected dataset alone.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from harness.errors import ConfigError, EmptyDataError

logger = logging.getLogger(__name__)

DEFAULT_TOTAL = 10_500
DEFAULT_SEED = 3407


def allocate(counts: Mapping[str, int], total: int) -> dict[str, int]:
    """Split ``total`` across groups: equal shares, shortfalls redistributed (water-filling).

    Groups that cannot fill the current equal share take all their rows and leave the
    race; the rest split what is left, until every remaining group can fill its share.
    The indivisible remainder goes one row each to the groups with the most rows (ties
    by name), so the allocation depends only on the counts.

    Returns:
        ``{group: rows to draw}``, summing to ``min(total, sum(counts))``.
    """
    quota: dict[str, int] = {}
    active = sorted(counts)
    remaining = total
    while active:
        share = remaining // len(active)
        small = [g for g in active if counts[g] <= share]
        if not small:
            break
        for g in small:
            quota[g] = counts[g]
            remaining -= counts[g]
        active = [g for g in active if g not in small]
    if active:
        share, extra = divmod(remaining, len(active))
        by_size = sorted(active, key=lambda g: (-counts[g], g))
        for rank, g in enumerate(by_size):
            quota[g] = share + (1 if rank < extra else 0)
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
        by: The column to balance across.
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

    groups: dict[str, list[int]] = {}
    for i in candidates:
        groups.setdefault(str(keys[i]), []).append(i)
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
        idx = np.asarray(groups[g])
        pick = rng.permutation(len(idx))[: quota[g]]
        chosen.extend(idx[pick].tolist())
    chosen.sort()

    if isinstance(rows_or_dataset, Sequence):
        return [rows_or_dataset[i] for i in chosen]
    return rows_or_dataset.select(chosen)
