"""Per-sample outputs and per-row values, as arrays the bootstrap can draw from.

Why a module of its own: a score is resampled by redrawing what it was computed from,
and that has to be recovered from the stages' files in the form the score was made in.
lm-eval writes one line per item (``samples_<task>_*.jsonl``) beside its results; the
benchmark's aggregation (a mean, a ratio of sums such as bits per byte, M-RewardBench's
weighted mean over sections) is read from the task and turned into fixed item weights,
so a score is a weighted sum of items (:class:`ItemScores`), and the items must
reproduce the reported score exactly or are refused. The intrinsic stage's
``rows.parquet`` gives the per-row perplexity and rubric score behind each dataset mean
(:func:`read_row_values`). :mod:`harness.score.bootstrap` then only draws and sums.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import ConfigError
from harness.files import read_jsonl
from harness.naming import samples_file
from harness.score.lm_eval_results import pick_metric_key, score_reading
from harness.score.rows import ExtrinsicRow, IntrinsicRow

logger = logging.getLogger(__name__)

ROW_METRICS: tuple[str, ...] = ("perplexity", "rubric_score")  # per-row in rows.parquet
ROW_INDEX = "row_index"  # a row's position in its dataset: unique per (teacher, language)
# lm-eval aggregations that are a function of sum(a) / sum(b) over items (a, b).
RATIO_AGGREGATIONS: tuple[str, ...] = ("bits_per_byte", "weighted_perplexity")
_SOURCE = re.compile(r"^(?P<file>.*results_(?P<stamp>[^/\\]+)\.json)\[(?P<task>[^\]]+)\]$")
_DOC_ID = re.compile(r'^\{"doc_id": (\d+),')


# ---- per-item outputs ----------------------------------------------------------------
@dataclass(frozen=True)
class ItemScores:
    """One model's per-item outputs on one benchmark, and how the benchmark aggregates them.

    With item counts ``w``, a seed's score is ``offset + w @ numerator / (w @ denominator)``
    (no division without a denominator), then ``finish``: a mean (numerator = value / n),
    a weighted mean over groups (numerator = the item's group weight x its value) and a
    ratio of sums (bits per byte) all have this form. One row per generation seed.
    """

    doc_ids: np.ndarray
    strata: np.ndarray
    numerator: np.ndarray  # (seeds, items)
    denominator: np.ndarray | None = None
    offset: float = 0.0
    finish: Callable[[float], float] | None = None
    source: str = "<memory>"

    @classmethod
    def mean(cls, values: Any, *, source: str = "<memory>") -> ItemScores:
        """A plain item mean (accuracy); ``values`` is ``(items,)`` or ``(seeds, items)``."""
        values = np.atleast_2d(np.asarray(values, dtype=float))
        n = values.shape[1]
        return cls(np.arange(n), np.zeros(n, int), values / n, source=source)

    def point(self) -> float:
        """The score of the identity draw (every item once, every seed once)."""
        return float(np.mean(self.scores(np.ones((1, len(self.doc_ids))))[0]))

    def columns(self) -> np.ndarray:
        """The ``(items, k)`` matrix whose count-weighted sums give the scores."""
        parts = [self.numerator] if self.denominator is None else [self.numerator, self.denominator]
        return np.vstack(parts).T

    def from_sums(self, sums: np.ndarray) -> np.ndarray:
        """Scores ``(replicates, seeds)`` from the weighted sums of :meth:`columns`."""
        seeds = self.numerator.shape[0]
        out = sums[:, :seeds]
        if self.denominator is not None:
            out = out / sums[:, seeds:]
        out = out + self.offset
        if self.finish is not None:
            out = np.vectorize(self.finish, otypes=[float])(out)
        return out

    def scores(self, weights: np.ndarray) -> np.ndarray:
        """Scores ``(replicates, seeds)`` under item counts ``weights (replicates, items)``."""
        return self.from_sums(weights @ self.columns())


def _aggregation(results: Mapping[str, Any], task: str, metric: str) -> tuple[str, Any]:
    """(name, function) of the lm-eval aggregation a task used for ``metric``."""
    from lm_eval.api.registry import get_aggregation, get_metric_aggregation

    entries = results.get("configs", {}).get(task, {}).get("metric_list") or []
    agg = next((e.get("aggregation") for e in entries if e.get("metric") == metric), None)
    if agg is None:
        function = get_metric_aggregation(metric)
        return getattr(function, "__name__", str(function)), function
    if isinstance(agg, str) and not agg.lstrip().startswith("def "):
        return agg, get_aggregation(agg)
    name = re.match(r"\s*def\s+(\w+)", str(agg))
    return (name[1] if name else "?"), _task_function(task, metric)


@cache
def _task_function(task: str, metric: str) -> Callable[..., float]:
    """The aggregation function a task YAML names (``!function hooks.x``), resolved by lm-eval."""
    from lm_eval.tasks._yaml_loader import load_yaml

    from harness.paths import tasks_path

    found = sorted(tasks_path().rglob(f"{task}.yaml"))
    if not found:
        raise ConfigError(f"no task YAML {task}.yaml under {tasks_path()} to read its aggregation")
    entries = load_yaml(found[0], resolve_func=True).get("metric_list", [])
    function = next((e.get("aggregation") for e in entries if e.get("metric") == metric), None)
    if not callable(function):
        raise ConfigError(f"{found[0]}: metric {metric!r} has no aggregation function")
    return function


def _linear_weights(
    agg: Callable, groups: list[tuple], at: int
) -> tuple[float, dict[tuple, float]]:
    """(offset, weight per group) of an aggregation that is a fixed weighted mean of items.

    Items are ``groups[i]`` with the outcome inserted at position ``at``; probed with one
    item set to 1 per group: one call per group, whatever the number of items.
    """

    def item(group: tuple, x: float) -> tuple:
        return (*group[:at], x, *group[at:])

    zeros = [item(g, 0.0) for g in groups]
    offset = float(agg(zeros))
    weights = {}
    for g in dict.fromkeys(groups):
        i = groups.index(g)
        weights[g] = float(agg([*zeros[:i], item(g, 1.0), *zeros[i + 1 :]])) - offset
    return offset, weights


@cache
def _probe(agg: Callable, groups: tuple[tuple, ...], at: int) -> tuple[float, dict[tuple, float]]:
    return _linear_weights(agg, list(groups), at)


def _sample_fields(line: str) -> dict[str, Any]:
    """A sample line's doc id, filter and metric values, without parsing the long document
    and prompts before them (lm-eval writes those keys last, in this order)."""
    cut = line.rfind('"filter": ')
    head = _DOC_ID.match(line)
    if cut > 0 and head:
        try:
            return json.loads("{" + line[cut:]) | {"doc_id": int(head[1])}
        except ValueError:
            pass
    return json.loads(line)


def read_items(row: ExtrinsicRow) -> ItemScores | None:
    """A benchmark row's per-item outputs from lm-eval's samples file beside its results.

    Returns None when there is none (a long-format JSONL row, or lm-eval run without
    ``--log_samples``): that score stays fixed in every replicate.

    Raises:
        ConfigError: the samples do not aggregate to the score the results file reports,
            or the task's aggregation fails on them (another version of the task); an
            item is null or not finite, or appears twice with two values (named by line).
    """
    match = _SOURCE.match(row.source)
    if not match:
        return None
    results_file, task = Path(match["file"]), match["task"]
    samples = results_file.parent / samples_file(task, match["stamp"])
    if not samples.is_file():
        return None
    results = json.loads(results_file.read_text(encoding="utf-8"))
    preference, convert = score_reading(row.benchmark)
    key = pick_metric_key(results["results"][task], preference)  # as read_lm_eval_results
    if key is None:
        return None
    metric, _, filt = key.partition(",")
    found: dict[Any, Any] = {}
    lines: dict[Any, str] = {}  # doc id -> the line that gave its value
    for line, sample in read_jsonl(samples, torn="last", parse=_sample_fields):
        if sample.get("filter", filt or "none") == (filt or "none") and metric in sample:
            doc, value = sample.get("doc_id"), sample[metric]
            if doc is None:
                raise ConfigError(f"{line}: a sample without a doc_id; re-run the evaluation")
            _check_item(value, line, doc, metric)
            if doc in found and found[doc] != value:
                # Why here: the dict keeps one value per item, so the mismatch check
                # below would only say "re-run" without naming the item that is doubled.
                raise ConfigError(
                    f"{line}: doc_id {doc} appears again (first at line "
                    f"{lines[doc].rpartition(':')[2]}) with another {metric} value ({found[doc]!r}"
                    f", now {value!r}); the samples file mixes two runs: re-run the evaluation "
                    "of this model"
                )
            found[doc], lines[doc] = value, line
    if not found:
        return None
    doc_ids = np.array(sorted(found))
    values = [found[d] for d in doc_ids]
    name, agg = _aggregation(results, task, metric)
    where = f"{samples} ({metric}, aggregation {name})"
    items = _items(values, doc_ids, name, agg, where)
    if items is None:
        return None
    if convert is not None:
        inner = items.finish or float
        items = replace(items, finish=lambda v: convert(inner(v)))
    if not math.isclose(items.point(), row.score, rel_tol=1e-9, abs_tol=1e-9):
        raise ConfigError(
            f"{where}: items aggregate to {items.point():.12g}, but {results_file} reports "
            f"{row.score:.12g}; re-run the evaluation of this model"
        )
    return items


def _items(
    values: list, doc_ids: np.ndarray, name: str, agg: Callable, where: str
) -> ItemScores | None:
    """ItemScores of one metric's per-item values, by the form of its aggregation (None,
    with a warning, for an aggregation of another form: that score is held fixed)."""
    n = len(values)
    if name in RATIO_AGGREGATIONS:
        pairs = np.array(values, dtype=float)
        return ItemScores(
            doc_ids, np.zeros(n, int), pairs[None, :, 0], pairs[None, :, 1],
            finish=lambda ratio: float(agg([(ratio, 1.0)])), source=where,
        )  # fmt: skip
    if name == "mean":
        return ItemScores(doc_ids, np.zeros(n, int), np.array([values], float) / n, source=where)
    # A grouped item is a list holding one number, the outcome, among labels (group,
    # flags): M-RewardBench's (source, correct, divisor rule).
    positions = [_outcome_position(v) for v in values]
    at = set(positions)
    if len(at) > 1 and None in at:  # most items labelled with one number, some not: damage
        odd = next(i for i, p in enumerate(positions) if p is None)
        raise ConfigError(
            f"{where}: doc_id {doc_ids[odd]} holds {values[odd]!r}, not a labelled item with "
            "one number like the others; re-run the evaluation of this model"
        )
    if len(at) != 1 or None in at:
        logger.warning(
            "bootstrap: %s: cannot resample this aggregation (supported: mean, %s, weighted "
            "means over labelled items); the score is held fixed", where, ", ".join(RATIO_AGGREGATIONS)
        )  # fmt: skip
        return None
    (at,) = at
    groups = [(*v[:at], *v[at + 1 :]) for v in values]
    x = np.array([v[at] for v in values], dtype=float)
    try:
        offset, weights = _probe(agg, tuple(groups), at)
        linear = np.array([weights[g] for g in groups])
        checks = [
            (float(agg([(*g[:at], float(v), *g[at:]) for g, v in zip(groups, p, strict=True)])), p)
            for p in (x, np.ones(n))
        ]
    except Exception as exc:  # the task's own code, on items another version may have written
        raise ConfigError(f"{where}: the aggregation fails on these items ({exc!r}); "
                          "re-run the evaluation with the current tasks") from None  # fmt: skip
    for exact, probe in checks:
        if not math.isclose(offset + float(linear @ probe), exact, rel_tol=1e-9, abs_tol=1e-12):
            raise ConfigError(f"{where}: the aggregation is not a fixed weighted mean of its "
                              "items, so items cannot be resampled")  # fmt: skip
    labels = {g: i for i, g in enumerate(dict.fromkeys(groups))}
    return ItemScores(
        doc_ids, np.array([labels[g] for g in groups]), (linear * x)[None], offset=offset,
        source=where,
    )  # fmt: skip


def _check_item(value: Any, line: str, doc: Any, metric: str) -> None:
    """Refuse a per-item value that is null or not finite (or holds such a number).

    Why: such an item cannot have produced a finite reported score, and downstream it
    would surface as "aggregates to nan", "not a fixed weighted mean" or, for a labelled
    item, a benchmark silently held fixed; the line and the item are named instead.
    """
    parts = value if isinstance(value, (list, tuple)) else [value]
    if value is None or any(isinstance(v, float) and not math.isfinite(v) for v in parts):
        raise ConfigError(
            f"{line}: doc_id {doc} has {metric} = {value!r}, not a number; the samples file "
            "is damaged: re-run the evaluation of this model"
        )


def _outcome_position(value: Any) -> int | None:
    """Where the one number of a labelled item is (bools are labels), None if not one."""
    if not isinstance(value, (list, tuple)):
        return None
    numbers = [i for i, v in enumerate(value) if _numeric(v)]
    return numbers[0] if len(numbers) == 1 else None


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# ---- per-row intrinsic values --------------------------------------------------------
def read_row_values(row: IntrinsicRow) -> dict[str, np.ndarray] | None:
    """Per-row perplexity and rubric score of one dataset (NaN: the row has none), from
    the ``rows.parquet`` beside the intrinsic summary the row came from.

    Raises:
        ConfigError: the file is unreadable or lacks a column, or a dataset's
            ``row_index`` repeats (its rows would count twice in every draw).
    """
    import pyarrow.parquet as pq

    from harness.intrinsic.run import ROWS_FILE

    path = Path(row.source.rpartition(":")[0] or row.source).parent / ROWS_FILE
    if not path.is_file():
        return None
    wanted = ["teacher", "language", *ROW_METRICS]
    try:  # a file cut short or of another writer: named in one line, not a pyarrow trace
        schema = pq.read_schema(path)
        lacking = [c for c in wanted if c not in schema.names]
        if lacking:
            raise ConfigError(
                f"{path}: no column {', '.join(lacking)}; not the intrinsic stage's per-row "
                "file: re-run `polyglot-harness intrinsic` or remove it"
            )
        index = [ROW_INDEX] if ROW_INDEX in schema.names else []
        table = pq.read_table(path, columns=[*wanted, *index]).to_pydict()
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(
            f"{path}: not a readable parquet file ({str(exc)[:120]}); re-run "
            "`polyglot-harness intrinsic` or remove it"
        ) from None
    keep = [
        i for i, (t, lang) in enumerate(zip(table["teacher"], table["language"], strict=True))
        if t == row.teacher and lang == row.language
    ]  # fmt: skip
    if not keep:
        return None
    if index:  # a row twice (files concatenated) would narrow every interval, unseen
        seen: dict[Any, int] = {}
        for i in keep:
            n = table[ROW_INDEX][i]
            if n in seen:
                raise ConfigError(
                    f"{path}: row_index {n} of {row.teacher} {row.language} appears twice "
                    f"(rows {seen[n]} and {i}); the per-row values are duplicated: re-run "
                    "`polyglot-harness intrinsic`"
                )
            seen[n] = i
    return {
        m: np.array([np.nan if table[m][i] is None else table[m][i] for i in keep], float)
        for m in ROW_METRICS
    }
