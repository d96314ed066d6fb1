"""The intrinsic metric interface and its registry: one metric is one module.

A metric is an :class:`IntrinsicMetric`: a name, a ``compute(rows, context)`` returning the
dataset's values (and optionally per-row values), and the summary fields it fills. The
stage caches it, joins it into ``summary.jsonl`` and ``rows.parquet`` and records the
protocol with it; nothing else needs editing. Metrics come from three places:

* the built-ins of :mod:`harness.intrinsic.builtin` (the paper's metrics and our checks);
* installed packages, through the entry point group :data:`ENTRY_POINT_GROUP`
  (``[project.entry-points."polyglot_harness.intrinsic_metrics"] mine = "mypkg.mymetric"``);
* ``IntrinsicOptions(extra_metrics=("mypkg.mymetric", "/path/to/mymetric.py"))``.

An entry point or module names either a module with a ``METRIC`` attribute or the
``IntrinsicMetric`` itself (``"mypkg.mymetric:METRIC"``). A one-file metric::

    from harness.intrinsic.metric import IntrinsicMetric

    def compute(rows, context):
        chars = [len(r) for r in rows.responses]
        return {"response_chars": sum(chars) / max(len(chars), 1)}, {
            "row_index": rows.index, "response_chars": chars}

    METRIC = IntrinsicMetric("response_chars", compute, summary_fields=("response_chars",),
                             row_fields=("response_chars",))

A new metric is reported, not scored: the PG-Score's z columns stay the method's four.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from harness.errors import ConfigError

if TYPE_CHECKING:
    from harness.intrinsic.options import DatasetRows, IntrinsicOptions, Resources
    from harness.protocol import Protocol

ENTRY_POINT_GROUP = "polyglot_harness.intrinsic_metrics"
MODULE_ATTRIBUTE = "METRIC"  # what a metric module exposes
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

MetricValues = dict[str, Any]  # dataset-level values: they become summary.jsonl fields
MetricRows = dict[str, list[Any]] | None  # per-row columns, keyed by "row_index"
MetricResult = tuple[MetricValues, MetricRows]
Resume = tuple[Path, str]  # (progress file, key of what the rows depend on)
Reuse = dict[int, str]  # raw judge outputs by row position, judged under the same settings


@dataclass(frozen=True)
class MetricContext:
    """What ``compute`` gets beside the rows: the options, shared models, resume state."""

    options: IntrinsicOptions
    resources: Resources
    resume: Resume | None = None  # where a long metric may save partial work, and its key
    reuse: Reuse | None = None  # the judge's earlier raw outputs (built-in judge only)

    def shared(self, name: str, load: Callable[[], Any]) -> Any:
        """``load()`` once per run, shared by every dataset (models are the slow part)."""
        return self.resources.shared(name, load)


@dataclass(frozen=True)
class IntrinsicMetric:
    """One intrinsic metric: what it computes and everything its cache depends on.

    Attributes:
        name: The metric's name (``--metrics``; its cache files are ``<name>.json``).
        compute: ``(rows, context) -> (values, per_row)``; ``per_row`` maps column names
            to lists aligned with a ``"row_index"`` list, or is None.
        summary_fields: Fields of ``values`` that every summary row shows, in order (null
            until computed); other values still land in the summary, after them.
        row_fields: Per-row columns it adds to ``rows.parquet``.
        params: ``(options, language) -> dict`` of every option that changes its value;
            the cache key. Anything left out would serve a stale cache.
        protocol_params: ``(protocol) -> dict`` of what it takes from the protocol (a
            cache computed under another protocol's rule is then never joined).
        requires: ``(options) -> reason or None``: why it cannot run (skipped, noticed).
        check: ``(options) -> None``, raising before any work when a model won't load.
        deviations: ``(options) -> dict`` of its settings off the protocol (recorded).
        every_row: Measured on every row of the file, not the protocol's subsample.
        version: Bump it when the computation changes: older caches are recomputed.
    """

    name: str
    compute: Callable[[DatasetRows, MetricContext], MetricResult]
    summary_fields: tuple[str, ...] = ()
    row_fields: tuple[str, ...] = ()
    params: Callable[[IntrinsicOptions, str], Mapping[str, Any]] | None = None
    protocol_params: Callable[[Protocol], Mapping[str, Any]] | None = None
    requires: Callable[[IntrinsicOptions], str | None] | None = None
    check: Callable[[IntrinsicOptions], None] | None = None
    deviations: Callable[[IntrinsicOptions], Mapping[str, Any]] | None = None
    every_row: bool = False
    version: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ConfigError(
                f"intrinsic metric name {self.name!r} must be lower_snake_case (a-z, 0-9, _)"
            )
        if not callable(self.compute):
            raise ConfigError(f"intrinsic metric {self.name!r}: compute must be callable")
        for attr in ("summary_fields", "row_fields"):
            value = getattr(self, attr)
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise ConfigError(
                    f"intrinsic metric {self.name!r}: {attr} must be a tuple of names, "
                    f"got {value!r}"
                )
            object.__setattr__(self, attr, tuple(value))


def _as_metric(obj: Any, source: str) -> IntrinsicMetric:
    """The metric an entry point or module reference points at, or a one-line error."""
    if isinstance(obj, ModuleType):
        obj = getattr(obj, MODULE_ATTRIBUTE, None)
    if not isinstance(obj, IntrinsicMetric):
        raise ConfigError(
            f"intrinsic metric {source} must be a module with {MODULE_ATTRIBUTE} = "
            "IntrinsicMetric(...) (harness.intrinsic.metric) or point at such an object"
        )
    return obj


def _import_file(path: Path) -> ModuleType:
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:10]
    name = f"polyglot_harness_metric_{path.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"intrinsic metric file {path} cannot be imported: is it a .py file?")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load_metric(reference: str) -> IntrinsicMetric:
    """The metric of ``reference``: a ``.py`` file, ``pkg.module`` or ``pkg.module:OBJECT``.

    Raises:
        ConfigError: nothing importable there, or no :class:`IntrinsicMetric` in it.
    """
    text = str(reference).strip()
    try:
        if text.endswith(".py"):
            path = Path(text).expanduser().resolve()
            if not path.is_file():
                raise ConfigError(f"intrinsic metric file {path} does not exist")
            return _as_metric(_import_file(path), str(path))
        module_name, _, attr = text.partition(":")
        module = importlib.import_module(module_name)
        return _as_metric(getattr(module, attr) if attr else module, repr(text))
    except ConfigError:
        raise
    except (ImportError, AttributeError, SyntaxError) as exc:
        raise ConfigError(
            f"cannot load intrinsic metric {text!r} ({type(exc).__name__}: {exc}); give a "
            "module importable here (pkg.module) or the path of its .py file"
        ) from None


def builtin_metrics() -> dict[str, IntrinsicMetric]:
    """The harness's own metrics, in table order."""
    from harness.intrinsic.builtin import BUILTIN_METRICS

    return {m.name: m for m in BUILTIN_METRICS}


@lru_cache(maxsize=8)
def _entry_point_metrics(_path: tuple[str, ...]) -> dict[str, IntrinsicMetric]:
    from importlib.metadata import entry_points

    found: dict[str, IntrinsicMetric] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        source = f"entry point {point.name!r} ({point.value}) of group {ENTRY_POINT_GROUP}"
        try:
            loaded = point.load()
        except (ImportError, AttributeError, SyntaxError) as exc:
            raise ConfigError(
                f"cannot load {source}: {type(exc).__name__}: {exc}; reinstall or remove "
                "the package that declares it"
            ) from None
        metric = _as_metric(loaded, source)
        found.setdefault(metric.name, metric)
    return found


def entry_point_metrics() -> dict[str, IntrinsicMetric]:
    """Metrics installed packages declare under :data:`ENTRY_POINT_GROUP`."""
    return _entry_point_metrics(tuple(sys.path))  # a new path may hold new distributions


def available_metrics(extra: Sequence[str] = ()) -> dict[str, IntrinsicMetric]:
    """Every metric a run can compute: built-ins, entry points, then ``extra`` modules.

    Raises:
        ConfigError: a plugin reuses a name already taken, or does not load.
    """
    metrics = dict(builtin_metrics())
    sources = [("entry point", m) for m in entry_point_metrics().values()]
    sources += [(repr(ref), load_metric(ref)) for ref in extra]
    for source, metric in sources:
        taken = metrics.get(metric.name)
        if taken is not None and taken is not metric:
            raise ConfigError(
                f"intrinsic metric {metric.name!r} of {source} is already defined "
                f"(built-in or loaded earlier): rename it"
            )
        metrics[metric.name] = metric
    return metrics


def unknown_metric(name: str, known: Sequence[str]) -> ConfigError:
    """The one-line error for a metric name nobody defines, with the nearest name."""
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return ConfigError(
        f"unknown metric {name!r}{hint}: choose from {', '.join(known)}, or load yours with "
        f"extra_metrics / the {ENTRY_POINT_GROUP} entry point group"
    )


__all__ = [
    "ENTRY_POINT_GROUP",
    "MODULE_ATTRIBUTE",
    "IntrinsicMetric",
    "MetricContext",
    "MetricResult",
    "MetricRows",
    "MetricValues",
    "Resume",
    "Reuse",
    "available_metrics",
    "builtin_metrics",
    "entry_point_metrics",
    "load_metric",
    "unknown_metric",
]
