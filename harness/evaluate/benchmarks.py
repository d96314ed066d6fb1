"""The extrinsic benchmarks: which languages have which, and where each one's data comes from.

What a benchmark *is* (task token, data, lm-eval template, metric, hooks) is its record
(:mod:`harness.evaluate.registry`; ``tasks/polyglot_eval/benchmarks/<name>.yaml``, or
the user's own through ``$POLYGLOT_HARNESS_BENCHMARKS``), so adding a benchmark is one
file. Which languages have it comes from the language records (``harness.languages``),
which also hold the facts a benchmark's ``needs`` names, and from the record's own
``languages``.

Data location: real runs read the paper's Hub datasets with ``datasets.load_dataset``.
Offline runs (tests, air-gapped clusters, pinned snapshots) point the tasks at a folder
laid out as ``<dir>/<benchmark>/<config>/<split>.jsonl``, given as lm-eval metadata
``{"polyglot_data_dir": "<dir>"}`` or the ``POLYGLOT_EVAL_DATA_DIR`` variable. A
folder that is given but lacks a file is an error, never a silent Hub download, so a
run cannot mix local and remote data by accident.
"""

from __future__ import annotations

import difflib
import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import ConfigError, InputNotFoundError
from harness.evaluate.registry import ALL_LANGUAGES, BENCHMARKS, Benchmark, get_benchmark
from harness.files import read_jsonl
from harness.languages import LANGUAGES, Language
from harness.naming import EVAL_PREFIX, eval_group
from harness.protocol import Protocol
from harness.protocol import resolve as resolve_protocol

if TYPE_CHECKING:
    from datasets import DatasetDict

__all__ = [
    "BENCHMARKS",
    "DATA_DIR_ENV",
    "DATA_DIR_KEY",
    "PROTOCOL_KEY",
    "TASK_PREFIX",
    "Benchmark",
    "check_language",
    "extended_suite",
    "get_benchmark",
    "group_name",
    "languages_for",
    "load_benchmark",
    "load_docs",
    "local_files",
    "offered",
    "paper_suite",
    "protocol_of",
    "resolve_data_dir",
]

logger = logging.getLogger(__name__)

DATA_DIR_KEY = "polyglot_data_dir"
DATA_DIR_ENV = "POLYGLOT_EVAL_DATA_DIR"
PROTOCOL_KEY = "polyglot_protocol"
TASK_PREFIX = EVAL_PREFIX


def paper_suite(language: Language) -> list[Benchmark]:
    """The benchmarks the paper scores ``language`` on."""
    return [get_benchmark(n) for n in language.paper_benchmarks]


def extended_suite(language: Language) -> list[Benchmark]:
    """The paper's benchmarks plus ours, so every language has at least two.

    A benchmark record that names the language in its own ``languages`` joins too (a
    user's benchmark for a bundled language needs no edit of the language's record).
    """
    names = dict.fromkeys((*language.paper_benchmarks, *language.extended_benchmarks))
    names.update(
        dict.fromkeys(b.name for b in BENCHMARKS.values() if b.grouped and _names(b, language))
    )
    return [get_benchmark(n) for n in names]


def offered(language: Language) -> list[Benchmark]:
    """Every benchmark with a leaf task in ``language``: its suites, then the group-less
    ones (the held-out demo) whose record offers it."""
    ungrouped = [b for b in BENCHMARKS.values() if not b.grouped and _names(b, language)]
    return [*extended_suite(language), *ungrouped]


def _names(benchmark: Benchmark, language: Language) -> bool:
    """Whether the benchmark's own record offers it in ``language``."""
    wanted = benchmark.languages
    return language.code in wanted or (ALL_LANGUAGES in wanted and language.code in LANGUAGES)


def languages_for(benchmark: str) -> list[str]:
    """Grid languages whose extended suite includes ``benchmark``."""
    return [
        code
        for code, lang in LANGUAGES.items()
        if benchmark in {b.name for b in extended_suite(lang)}
    ]


def group_name(code: str, *, extended: bool = False) -> str:
    """The language group: the paper suite, or (``extended``) paper + added benchmarks."""
    return eval_group(code, extended=extended)


def check_language(language: Language) -> None:
    """Every benchmark a language record lists exists and finds the facts it needs.

    Raises:
        ConfigError: an unknown benchmark (the nearest known one named), or a fact the
            benchmark needs missing from the record; one line naming the file and the field.
    """
    for field in ("paper_benchmarks", "extended_benchmarks"):
        for name in getattr(language, field):
            if name not in BENCHMARKS:
                near = difflib.get_close_matches(name, list(BENCHMARKS), n=1)
                hint = (
                    f"; did you mean {near[0]!r}?" if near else f"; known: {', '.join(BENCHMARKS)}"
                )
                raise ConfigError(
                    f"{language.where}: field {field!r}: unknown benchmark {name!r}{hint}"
                )
            benchmark = BENCHMARKS[name]
            for fact in benchmark.needs:
                if not hasattr(language, fact):
                    raise ConfigError(
                        f"{benchmark.source}: field 'needs': {fact!r} is no language-record field"
                    )
                language.require(fact, benchmark.name)
            benchmark.config_for(language)


def resolve_data_dir(metadata: dict[str, Any] | None = None) -> Path | None:
    """The local data folder from lm-eval metadata or the environment, if any."""
    value = (metadata or {}).get(DATA_DIR_KEY) or os.environ.get(DATA_DIR_ENV)
    return Path(value).expanduser() if value else None


def protocol_of(metadata: dict[str, Any] | None = None) -> Protocol:
    """The protocol lm-eval metadata asks for; ``paper`` when it names none.

    Raises:
        ConfigError: the metadata names an unknown protocol or correction.
    """
    return resolve_protocol((metadata or {}).get(PROTOCOL_KEY))


def local_files(benchmark: Benchmark, config: str, data_dir: Path) -> dict[str, Path]:
    """The split files of one benchmark config under ``data_dir``.

    Raises:
        InputNotFoundError: a split file is missing (the message names the path).
    """
    files = {s: data_dir / benchmark.name / config / f"{s}.jsonl" for s in benchmark.splits}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise InputNotFoundError(
            f"{benchmark.name}/{config}: local data dir {data_dir} lacks {', '.join(missing)}; "
            f"lay files out as <dir>/<benchmark>/<config>/<split>.jsonl, or unset "
            f"{DATA_DIR_KEY} / ${DATA_DIR_ENV} to load {benchmark.hub_id} from the Hub"
        )
    return files


def load_benchmark(
    name: str,
    config: str,
    *,
    data_dir: str | Path | None = None,
    prepare: Callable[[DatasetDict, str], DatasetDict] | None = None,
) -> DatasetDict:
    """Load one benchmark config, from local JSONL files when a folder is given.

    Args:
        name: benchmark table name (``mgsm``, ``m_rewardbench``, ...).
        config: dataset config, as :meth:`Benchmark.config_for` names it.
        data_dir: local folder; ``None`` loads the Hub dataset.
        prepare: post-processing that needs the config (M-RewardBench's A/B order).

    Returns:
        The splits the task reads.
    """
    import datasets

    benchmark = get_benchmark(name)
    if data_dir is not None:
        files = local_files(benchmark, config, Path(data_dir))
        logger.info("%s/%s: loading local files under %s", name, config, data_dir)
        # Split by split, not load_dataset("json") over all splits: real schemas differ
        # between splits (MGSM's ``answer`` is text in train and null in test).
        dataset = datasets.DatasetDict(
            {
                split: datasets.Dataset.from_list([row for _, row in read_jsonl(path)])
                for split, path in files.items()
            }
        )
    else:
        loaded = datasets.load_dataset(benchmark.hub_id, config)
        dataset = datasets.DatasetDict({s: loaded[s] for s in benchmark.splits if s in loaded})
    return prepare(dataset, config) if prepare is not None else dataset


def load_docs(polyglot_benchmark: str, polyglot_config: str, **metadata: Any) -> DatasetDict:
    """lm-eval ``custom_dataset`` of every benchmark leaf: the record says how to load.

    lm-eval calls it with the task's merged metadata (``--metadata`` JSON, the model args
    and the YAML's own ``metadata``) plus the leaf's ``dataset_kwargs``, which name the
    benchmark and config. It is the one hook that sees metadata, so protocol-dependent
    fields are written into the docs here (the record's ``prepare``). Importable as
    ``!function harness.evaluate.benchmarks.load_docs`` from a template in any folder.
    """
    benchmark = get_benchmark(polyglot_benchmark)
    loader = benchmark.hook("loader")
    if loader is not None:
        return loader(polyglot_config, metadata)
    prepare = benchmark.hook("prepare")
    return load_benchmark(
        polyglot_benchmark,
        polyglot_config,
        data_dir=resolve_data_dir(metadata),
        prepare=None
        if prepare is None
        else functools.partial(prepare, protocol=protocol_of(metadata)),
    )


# --- leaf fields of the built-in benchmarks whose prompt depends on the language ---------
# Named by the records' ``leaf`` field; each returns the keys one language's leaf adds.


def mgsm_leaf(language: Language) -> dict[str, Any]:
    """MGSM: the native prompt, and the paper's decoding as the plain-lm-eval default (the
    evaluate stage passes the protocol's own; harness.evaluate.lm_eval_io)."""
    from harness.evaluate import mgsm
    from harness.protocol import PAPER

    return {
        "doc_to_text": mgsm.doc_to_text_template(language),
        "generation_kwargs": mgsm.generation_kwargs(PAPER),
    }


def gmmlu_lite_leaf(language: Language) -> dict[str, Any]:
    """Global-MMLU-Lite: the question and answer cue words in the target language."""
    from harness.evaluate import gmmlu

    return {"doc_to_text": gmmlu.doc_to_text_template(language)}
