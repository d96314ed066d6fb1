"""The extrinsic benchmarks: one small table, plus where each one's data comes from.

Everything else about the eval suite (task names, per-language YAMLs, which language
gets which benchmark) derives from this table and from ``harness.languages``, so adding
a benchmark is one row here plus a template under ``tasks/polyglot_eval/``.

Data location: real runs read the paper's Hub datasets with ``datasets.load_dataset``.
Offline runs (tests, air-gapped clusters, pinned snapshots) point the tasks at a folder
laid out as ``<dir>/<benchmark>/<config>/<split>.jsonl``, given as lm-eval metadata
``{"polyglot_data_dir": "<dir>"}`` or the ``POLYGLOT_EVAL_DATA_DIR`` variable. A
folder that is given but lacks a file is an error, never a silent Hub download, so a
run cannot mix local and remote data by accident.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import ConfigError, InputNotFoundError
from harness.languages import LANGUAGES, Language
from harness.protocol import Protocol
from harness.protocol import resolve as resolve_protocol

if TYPE_CHECKING:
    from datasets import DatasetDict

logger = logging.getLogger(__name__)

DATA_DIR_KEY = "polyglot_data_dir"
DATA_DIR_ENV = "POLYGLOT_EVAL_DATA_DIR"
PROTOCOL_KEY = "polyglot_protocol"
TASK_PREFIX = "polyglot_eval"


@dataclass(frozen=True)
class Benchmark:
    """One extrinsic benchmark and how our lm-eval leaf task reads it."""

    name: str  # key in harness.languages tables and folder name under the data dir
    slug: str  # leaf task = polyglot_eval_{slug}_{lang}
    metric: str  # headline metric the language groups average
    hub_id: str
    config_naming: str  # "code" (ISO 639-1) or "flores" (FLORES-200 code)
    splits: tuple[str, ...]  # splits the task reads (test first)
    template: str  # template file under tasks/polyglot_eval/

    def config_for(self, language: Language) -> str:
        """The dataset config (subset) name of ``language`` for this benchmark.

        Raises:
            ConfigError: the language has no FLORES code but the benchmark needs one.
        """
        config = language.code if self.config_naming == "code" else language.flores
        if not config:
            raise ConfigError(
                f"{self.name} names its configs by FLORES-200 code, but language "
                f"{language.code!r} has none: add it to harness/languages.py"
            )
        return config

    def task_name(self, code: str) -> str:
        """The leaf lm-eval task of this benchmark in language ``code``."""
        return f"{TASK_PREFIX}_{self.slug}_{code}"


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark("global_mmlu_lite", "gmmlu_lite", "acc", "CohereForAI/Global-MMLU-Lite",
                  "code", ("test", "dev"), "_gmmlu_lite_template_yaml"),
        Benchmark("m_rewardbench", "mrewardbench", "acc",
                  "CohereLabsCommunity/multilingual-reward-bench", "flores", ("test",),
                  "_mrewardbench_template_yaml"),
        Benchmark("mgsm", "mgsm", "acc", "juletxara/mgsm", "code", ("test", "train"),
                  "_mgsm_template_yaml"),
        Benchmark("belebele", "belebele", "acc", "facebook/belebele", "flores", ("test",),
                  "_belebele_template_yaml"),
        Benchmark("global_mmlu", "gmmlu", "acc", "CohereForAI/Global-MMLU", "code",
                  ("test", "dev"), "_gmmlu_template_yaml"),
    )
}  # fmt: skip


def get_benchmark(name: str) -> Benchmark:
    """Look a benchmark up by its table name.

    Raises:
        ConfigError: unknown name (the message lists the known ones).
    """
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise ConfigError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}") from None


def paper_suite(language: Language) -> list[Benchmark]:
    """The benchmarks the paper scores ``language`` on."""
    return [get_benchmark(n) for n in language.paper_benchmarks]


def extended_suite(language: Language) -> list[Benchmark]:
    """The paper's benchmarks plus ours, so every language has at least two."""
    names = dict.fromkeys((*language.paper_benchmarks, *language.extended_benchmarks))
    return [get_benchmark(n) for n in names]


def languages_for(benchmark: str) -> list[str]:
    """Grid languages whose extended suite includes ``benchmark``."""
    return [
        code
        for code, lang in LANGUAGES.items()
        if benchmark in {b.name for b in extended_suite(lang)}
    ]


def group_name(code: str, *, extended: bool = False) -> str:
    """The language group: the paper suite, or (``extended``) paper + added benchmarks."""
    return f"{TASK_PREFIX}_ext_{code}" if extended else f"{TASK_PREFIX}_{code}"


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


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of one JSONL split file.

    Read split by split (not with ``load_dataset("json")`` over all splits) because real
    schemas differ between splits: MGSM's ``answer`` is text in train and null in test.

    Raises:
        ConfigError: a line is not a JSON object (the message names file and line).
    """
    rows = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise ConfigError(f"{path}:{number}: expected a JSON object per line")
            rows.append(row)
    return rows


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
        dataset = datasets.DatasetDict(
            {split: datasets.Dataset.from_list(read_jsonl(path)) for split, path in files.items()}
        )
    else:
        loaded = datasets.load_dataset(benchmark.hub_id, config)
        dataset = datasets.DatasetDict({s: loaded[s] for s in benchmark.splits if s in loaded})
    return prepare(dataset, config) if prepare is not None else dataset
