"""The benchmark registry: each benchmark is one record file, built in or the user's.

A record (``tasks/polyglot_eval/benchmarks/<name>.yaml`` for ours) holds everything the
harness knows about a benchmark: its task-name token, where its data lives, the lm-eval
template its per-language leaves include, the metric the scorer reads and how that
metric becomes a score. ``python -m harness.taskgen`` writes the leaves from it and the
scorer learns the metric from it, so a new benchmark is one file. Records outside the
package come from folders named by ``$POLYGLOT_HARNESS_BENCHMARKS`` (``os.pathsep``
separated) and from the ``polyglot_harness.benchmarks`` entry-point group (each entry
loads to a folder or file path, or a callable returning one). Hooks are lazy
``"module:function"`` strings, as lm-eval's registry keeps its entries.
"""

from __future__ import annotations

import difflib
import importlib
import math
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from harness.errors import ConfigError, InputNotFoundError
from harness.naming import EVAL_TASKS, eval_task, parse_eval_task

if TYPE_CHECKING:  # the language records load lingua: not for the scorer's imports
    from harness.languages import Language

ENV_VAR = "POLYGLOT_HARNESS_BENCHMARKS"
ENTRY_POINT_GROUP = "polyglot_harness.benchmarks"
RECORDS_FOLDER = "benchmarks"  # under tasks/polyglot_eval/: the built-in records
ALL_LANGUAGES = "*"  # a record's ``languages: "*"``: every language of the table

_FIELDS: dict[str, str] = {
    "name": "the benchmark's name: language suites and the offline data folder use it",
    "slug": "the token in its task names, polyglot_eval_<slug>_<lang> (default: name)",
    "aliases": "other task-name tokens the scorer maps to it (the paper's own names)",
    "description": "free text for humans",
    "hub_id": "the Hub dataset (null when a loader hook makes the documents)",
    "configs": "dataset config per language: code, flores, or a mapping <lang>: <config>",
    "splits": "the splits the leaves read, test first",
    "languages": "languages it is offered in besides the language records' suites ('*': all)",
    "needs": "language-record fields its leaves use (checked when a language lists it)",
    "grouped": "whether its leaves join polyglot_eval_ext_<lang> (default true)",
    "folder": "the folder under the tasks root its leaves go to (default polyglot_eval)",
    "metric": "the lm-eval metric the scorer reads and the language groups average",
    "fallback_metrics": "metrics the scorer reads when `metric` is absent (other task versions)",
    "score": "module:function turning the metric into a score (default: the metric is it)",
    "floor": "the lowest valid score (default 0; -.inf for an unbounded one)",
    "leaf": "module:function(language) -> extra keys of a language's leaf task",
    "prepare": "module:function(dataset, config, *, protocol) run on loaded data",
    "loader": "module:function(config, metadata) -> DatasetDict, instead of Hub/local files",
    "template": "the lm-eval task YAML every leaf includes (a block string)",
}
_REQUIRED = ("name", "template")
_NAME = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)*")
_HOOK = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


@dataclass(frozen=True)
class Benchmark:
    """One extrinsic benchmark: how its leaf tasks read it and how the scorer reads them."""

    name: str
    slug: str
    metric: str
    hub_id: str | None
    config_naming: str  # "code" (ISO 639-1), "flores" (FLORES-200) or "table" (configs)
    splits: tuple[str, ...]
    template: str  # lm-eval YAML text, written as `template_file` beside the leaves
    configs: tuple[tuple[str, str], ...] = ()  # (language, config) when config_naming="table"
    aliases: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()  # fields of harness.languages.Language its leaves read
    grouped: bool = True
    folder: str = EVAL_TASKS
    fallback_metrics: tuple[str, ...] = ()
    score: str | None = None
    floor: float = 0.0
    leaf: str | None = None
    prepare: str | None = None
    loader: str | None = None
    source: str = "<memory>"  # the record file, for error messages
    builtin: bool = False

    def config_for(self, language: Language) -> str:
        """The dataset config (subset) name of ``language`` for this benchmark.

        Raises:
            ConfigError: the language has no config of this benchmark.
        """
        if self.config_naming == "table":
            config = dict(self.configs).get(language.code)
            if not config:
                raise ConfigError(
                    f"{self.name} has no config for {language.code!r}; add it under "
                    f"`configs:` in {self.source}"
                )
            return config
        if self.config_naming == "code":
            return language.code
        return language.require("flores", f"{self.name} (configs named by FLORES-200 code)")

    def task_name(self, code: str) -> str:
        """The leaf lm-eval task of this benchmark in language ``code``."""
        return eval_task(self.slug, code)

    @property
    def template_file(self) -> str:
        """The template's file name under :attr:`folder` (extension-less: not a task)."""
        return f"_{self.slug}_template_yaml"

    @property
    def tokens(self) -> tuple[str, ...]:
        """Every task-name token that means this benchmark."""
        return tuple(dict.fromkeys((self.slug, self.name, *self.aliases)))

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metrics the scorer reads, most preferred first."""
        return (self.metric, *self.fallback_metrics)

    def hook(self, field_name: str) -> Callable[..., Any] | None:
        """The function a hook field names, imported now; None when the field is unset.

        Raises:
            ConfigError: the module or the function does not exist.
        """
        spec = getattr(self, field_name)
        return None if spec is None else _import_hook(spec, f"{self.source}: field {field_name!r}")

    def to_score(self, value: float) -> float:
        """The score of a metric value (the ``score`` hook, or the value itself)."""
        convert = self.hook("score")
        return float(convert(value)) if convert is not None else float(value)


@cache
def _import_hook(spec: str, where: str) -> Callable[..., Any]:
    module, _, name = spec.partition(":")
    try:
        function = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"{where}: cannot import {spec!r} ({exc})") from None
    if not callable(function):
        raise ConfigError(f"{where}: {spec!r} is not a function")
    return function


class _TemplateLoader(yaml.SafeLoader):
    """Reads a template as lm-eval does, ``!function`` references kept as text."""


_TemplateLoader.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))


def _check_template(text: str, metric: str, where: str) -> None:
    try:
        cfg = yaml.load(text, Loader=_TemplateLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: field 'template' is not valid YAML ({exc})") from None
    if not isinstance(cfg, dict):
        raise ConfigError(f"{where}: field 'template' must be an lm-eval task mapping")
    if {"task", "group", "include"} & set(cfg):
        raise ConfigError(
            f"{where}: the template must not set task, group or include; the generated "
            "leaves name themselves and include it"
        )
    metrics = [m.get("metric") for m in cfg.get("metric_list") or [] if isinstance(m, dict)]
    if metrics and metric not in metrics:
        raise ConfigError(
            f"{where}: field 'metric' is {metric!r} but the template's metric_list has "
            f"{metrics}; name one of them"
        )


def _strings(value: Any, field_name: str, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}: field {field_name!r} must be a list of strings")
    return tuple(value)


def _hook(value: Any, field_name: str, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _HOOK.fullmatch(value):
        raise ConfigError(f"{where}: field {field_name!r} is {value!r}; expected 'module:function'")
    return value


def _configs(value: Any, where: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    if value in ("code", "flores"):
        return value, ()
    if isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in value.items()
    ):
        return "table", tuple(sorted(value.items()))
    raise ConfigError(
        f"{where}: field 'configs' is {value!r}; expected code, flores or a mapping "
        "<lang>: <config>"
    )


def benchmark_from_record(
    record: Mapping[str, Any], *, source: str = "<memory>", builtin: bool = False
) -> Benchmark:
    """Validate one record and build its :class:`Benchmark`.

    Raises:
        ConfigError: an unknown or missing field, or a value of the wrong kind (the
            message names the record, the field and the nearest valid field name).
    """
    where = f"benchmark record {source}"
    for key in record:
        if key not in _FIELDS:
            near = difflib.get_close_matches(str(key), _FIELDS, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else f"; known: {', '.join(_FIELDS)}"
            raise ConfigError(f"{where}: unknown field {key!r}{hint}")
    missing = [key for key in _REQUIRED if not record.get(key)]
    if missing:
        raise ConfigError(f"{where}: missing field(s) {', '.join(missing)}")
    name, slug = record["name"], record.get("slug", record["name"])
    for field_name, value in (("name", name), ("slug", slug)):
        if not isinstance(value, str) or not _NAME.fullmatch(value) or value == "ext":
            raise ConfigError(
                f"{where}: field {field_name!r} is {value!r}; use lower-case words joined "
                "by '_' (not 'ext')"
            )
    metric = record.get("metric", "acc")
    if not isinstance(metric, str) or not metric:
        raise ConfigError(f"{where}: field 'metric' must be an lm-eval metric name")
    template = record["template"]
    if not isinstance(template, str):
        raise ConfigError(f"{where}: field 'template' must be a YAML block string ('|')")
    _check_template(template, metric, where)
    naming, configs = _configs(record.get("configs", "code"), where)
    floor = record.get("floor", 0.0)
    if not isinstance(floor, (int, float)) or isinstance(floor, bool) or math.isnan(floor):
        raise ConfigError(f"{where}: field 'floor' must be a number (-.inf for none)")
    hub_id = record.get("hub_id")
    if hub_id is not None and not isinstance(hub_id, str):
        raise ConfigError(f"{where}: field 'hub_id' must be a dataset id or null")
    folder = record.get("folder", EVAL_TASKS)
    if not isinstance(folder, str) or not _NAME.fullmatch(folder):
        raise ConfigError(f"{where}: field 'folder' must be one folder name, e.g. polyglot_eval")
    needs = _strings(record.get("needs", []), "needs", where)
    grouped = record.get("grouped", True)
    if not isinstance(grouped, bool):
        raise ConfigError(f"{where}: field 'grouped' must be true or false")
    return Benchmark(
        name=name,
        slug=slug,
        metric=metric,
        hub_id=hub_id,
        config_naming=naming,
        splits=_strings(record.get("splits", ["test"]), "splits", where),
        template=template if template.endswith("\n") else template + "\n",
        configs=configs,
        aliases=_strings(record.get("aliases", []), "aliases", where),
        languages=_strings(record.get("languages", []), "languages", where),
        needs=needs,
        grouped=grouped,
        folder=folder,
        fallback_metrics=_strings(record.get("fallback_metrics", []), "fallback_metrics", where),
        score=_hook(record.get("score"), "score", where),
        floor=float(floor),
        leaf=_hook(record.get("leaf"), "leaf", where),
        prepare=_hook(record.get("prepare"), "prepare", where),
        loader=_hook(record.get("loader"), "loader", where),
        source=source,
        builtin=builtin,
    )


def load_record(path: str | Path, *, builtin: bool = False) -> Benchmark:
    """Read one record file.

    Raises:
        InputNotFoundError: the file does not exist.
        ConfigError: it is not a valid record.
    """
    path = Path(path)
    try:
        record = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputNotFoundError(f"benchmark record {path} does not exist") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"benchmark record {path}: not readable YAML ({exc})") from None
    if not isinstance(record, dict):
        raise ConfigError(f"benchmark record {path}: expected a mapping of fields")
    return benchmark_from_record(record, source=str(path), builtin=builtin)


def builtin_records_dir() -> Path:
    """Where the package's own records live."""
    from harness.paths import tasks_path

    return tasks_path() / EVAL_TASKS / RECORDS_FOLDER


def _record_files(location: Path, origin: str) -> list[Path]:
    if location.is_file():
        return [location]
    if location.is_dir():
        return sorted(location.glob("*.yaml"))
    raise InputNotFoundError(f"{origin} names {location}, which does not exist")


def external_locations() -> list[tuple[Path, str]]:
    """(folder or file, where it was named) of every record source outside the package."""
    found = [
        (Path(part).expanduser(), f"${ENV_VAR}")
        for part in os.environ.get(ENV_VAR, "").split(os.pathsep)
        if part.strip()
    ]
    from importlib.metadata import entry_points

    for point in entry_points(group=ENTRY_POINT_GROUP):
        value = point.load()
        value = value() if callable(value) else value
        for item in value if isinstance(value, (list, tuple)) else [value]:
            found.append((Path(item), f"entry point {point.name!r} of {ENTRY_POINT_GROUP}"))
    return found


@cache
def _registry(env_value: str) -> dict[str, Benchmark]:
    del env_value  # the cache key: a changed variable means other records
    table: dict[str, Benchmark] = {}
    owners: dict[str, Benchmark] = {}  # task-name token -> benchmark
    sources = [(p, True) for p in _record_files(builtin_records_dir(), "the package")]
    for location, origin in external_locations():
        sources += [(p, False) for p in _record_files(location, origin)]
    for path, builtin in sources:
        benchmark = load_record(path, builtin=builtin)
        clash = table.get(benchmark.name) or next(
            (owners[t] for t in benchmark.tokens if t in owners), None
        )
        if clash is not None:
            raise ConfigError(
                f"benchmark record {path}: name or task token of {benchmark.name!r} is "
                f"already taken by {clash.source}; rename it"
            )
        table[benchmark.name] = benchmark
        owners.update(dict.fromkeys(benchmark.tokens, benchmark))
    return table


def registry() -> dict[str, Benchmark]:
    """Every known benchmark by name: the package's records, then the user's.

    Raises:
        ConfigError: a record is invalid, or two records claim one name or token.
        InputNotFoundError: an external location does not exist.
    """
    return _registry(os.environ.get(ENV_VAR, ""))


def refresh() -> None:
    """Forget the loaded records (after a record file changed in this process)."""
    _registry.cache_clear()
    _import_hook.cache_clear()


class _Benchmarks(Mapping[str, Benchmark]):
    """``BENCHMARKS``: the registry, read on first use rather than at import."""

    def __getitem__(self, name: str) -> Benchmark:
        return registry()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(registry())

    def __len__(self) -> int:
        return len(registry())

    def __repr__(self) -> str:
        return f"BENCHMARKS({', '.join(self)})"


BENCHMARKS: Mapping[str, Benchmark] = _Benchmarks()


def get_benchmark(name: str) -> Benchmark:
    """Look a benchmark up by its name.

    Raises:
        ConfigError: unknown name (the message names the nearest and lists the known).
    """
    table = registry()
    try:
        return table[name]
    except KeyError:
        near = difflib.get_close_matches(name, table, n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise ConfigError(
            f"unknown benchmark {name!r}; {hint}known: {', '.join(table)} (add one as a "
            f"record file under ${ENV_VAR})"
        ) from None


def benchmark_of_task(task: str) -> tuple[Benchmark, str] | None:
    """The benchmark and language of an lm-eval leaf task name; None when no record has it.

    Accepts our ``polyglot_eval_<token>_<lang>`` names and the bare ``<token>_<lang>``
    the paper's own runs used (``mgsm_ja``), for any token a record claims.
    """
    parsed = parse_eval_task(task)
    if parsed is None:
        token, _, lang = task.rpartition("_")
        if not token or not re.fullmatch(r"[a-z]{2,3}", lang):
            return None
        parsed = token, lang
    for benchmark in registry().values():
        if parsed[0] in benchmark.tokens:
            return benchmark, parsed[1]
    return None
