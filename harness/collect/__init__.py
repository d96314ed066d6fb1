"""Turn lm-eval ``--log_samples`` output into one SFT dataset per (teacher, language).

Input: any folder holding lm-eval output (``<model>/results_<ts>.json`` with sibling
``samples_<task>_<ts>.jsonl``), from the CLI or from ``polyglot-harness generate``.
Output: ``<out>/<teacher_slug>/<lang>/data.parquet`` with the columns of
:class:`harness.schema.SFTRow`. Verdicts are recomputed from the raw output, so a
newer parser improves old runs, under one protocol (:mod:`harness.protocol`): the one
given, else the one the generation run recorded, else ``paper``; the file's metadata
records it, and the dataset card states it. Rows are keyed by (strategy, seed_id): later runs
replace earlier rows of the same key, and a dataset already in ``out`` is merged into,
never silently replaced by less (``overwrite=True`` replaces it on purpose). Every
sample that does not become its own row is counted and reported.
"""

from harness.collect.dataset import (
    METADATA_KEY,
    collected_notes,
    collected_protocol,
    load_collected,
)
from harness.collect.run import collect
from harness.collect.stats import stats_rows

__all__ = [
    "METADATA_KEY",
    "collect",
    "collected_notes",
    "collected_protocol",
    "load_collected",
    "stats_rows",
]
