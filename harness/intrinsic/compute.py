"""What each intrinsic metric computes from one dataset, and which options it depends on.

:mod:`harness.intrinsic.run` owns caching and the summary; this module answers, for any
registered metric (:mod:`harness.intrinsic.metric`: built-ins, entry points, extra
modules), what the stage asks of it: can it run, does its model load, what is its cache
key, what did it deviate from the protocol, and its values. Everything that changes a
metric's value must appear in :func:`params_for`, or a rerun would serve a stale cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.intrinsic.builtin import JUDGE_CHUNK_ROWS, METRICS
from harness.intrinsic.metric import (
    IntrinsicMetric,
    MetricContext,
    MetricResult,
    Resume,
    Reuse,
    available_metrics,
    unknown_metric,
)
from harness.intrinsic.options import (
    DatasetRows,
    IntrinsicOptions,
    Resources,
    fingerprint_file,
)
from harness.protocol import resolve

Result = MetricResult  # the name this module used before the registry


def get_metric(metric: str, options: IntrinsicOptions) -> IntrinsicMetric:
    """The registered metric called ``metric`` (built-in, entry point or extra module)."""
    known = available_metrics(options.extra_metrics)
    if metric not in known:
        raise unknown_metric(metric, list(known))
    return known[metric]


def missing_requirement(metric: str, options: IntrinsicOptions) -> str | None:
    """Why a metric cannot run with these options (a one-line notice), or None."""
    requires = get_metric(metric, options).requires
    return requires(options) if requires else None


def check_models(metrics: Sequence[str], options: IntrinsicOptions) -> None:
    """Fail in one line, before any work, when a model one of ``metrics`` needs will not load.

    Raises:
        InputNotFoundError: a model folder or Hub id that does not resolve.
        ConfigError: an unknown lm-eval backend for the judge.
        MissingRequirementError: the judge's backend package is not installed.
    """
    for metric in metrics:
        check = get_metric(metric, options).check
        if check:
            check(options)


def protocol_params(
    metric: str, protocol: str, options: IntrinsicOptions | None = None
) -> dict[str, Any]:
    """The cache parameters a metric takes from the protocol (empty: none).

    Only metrics whose values differ between protocols carry them, so switching protocol
    recomputes those and reuses every other cache.
    """
    rule = get_metric(metric, options or IntrinsicOptions(protocol=protocol)).protocol_params
    return dict(rule(resolve(protocol))) if rule else {}


def params_for(
    metric: str, options: IntrinsicOptions, language: str, rows_key: str | None = None
) -> dict[str, Any]:
    """Everything that changes a metric's value: the cache key's second half.

    ``rows_key`` is :attr:`~harness.intrinsic.subsample.Selection.key`, the rows measured;
    a metric of every row (validity) does not depend on it.
    """
    spec = get_metric(metric, options)
    params: dict[str, Any] = {"limit": options.limit}
    if not spec.every_row:
        params["rows"] = rows_key
    params |= protocol_params(metric, options.protocol, options)
    if spec.params:
        params |= spec.params(options, language)
    if spec.version is not None:
        params["version"] = spec.version
    return params


def row_params(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters one row's value depends on: what resumed or reused rows must match.

    Which rows are measured, and how unparseable judgements count, do not change what a
    judge wrote for a row, so judgements outlive a new subsample or protocol.
    """
    return {k: v for k, v in params.items() if k not in ("limit", "rows", "unparseable")}


def deviations(metric: str, options: IntrinsicOptions) -> dict[str, Any]:
    """Options of this metric's run that the protocol fixes otherwise (recorded with it)."""
    spec = get_metric(metric, options)
    found: dict[str, Any] = {}
    if options.limit is not None:
        found["limit"] = options.limit
    if not spec.every_row and options.all_rows:
        found["all_rows"] = True
    if spec.deviations:
        found |= spec.deviations(options)
    return found


def compute_metric(
    metric: str,
    data: DatasetRows,
    res: Resources,
    *,
    resume: Resume | None = None,
    reuse: Reuse | None = None,
) -> MetricResult:
    """Dataset-level values and per-row columns (keyed by ``row_index``) of one metric.

    ``resume`` is ``(file, key)``: where a long metric saves finished rows (the judge's
    chunks, lm-eval's request cache for fluency), and what those rows were computed
    under, so a killed run redoes only the rest. ``reuse`` holds raw judgements of a cache
    whose rows match (:func:`row_params`), computed under another rule for unparseable
    judgements: rescored, not re-judged.
    """
    spec = get_metric(metric, res.options)
    return spec.compute(data, MetricContext(res.options, res, resume=resume, reuse=reuse))


__all__ = [
    "JUDGE_CHUNK_ROWS",
    "METRICS",
    "DatasetRows",
    "IntrinsicOptions",
    "Resources",
    "Result",
    "Resume",
    "Reuse",
    "check_models",
    "compute_metric",
    "deviations",
    "fingerprint_file",
    "get_metric",
    "missing_requirement",
    "params_for",
    "protocol_params",
    "row_params",
]
