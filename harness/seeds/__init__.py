"""Seed pools per language: build them from the paper's Hub sources, save, and load them.

- :mod:`~harness.seeds.sources`: the Hub sources as records, and how rows are read;
- :mod:`~harness.seeds.pool`: mixing the sources into one pool per language;
- :mod:`~harness.seeds.store`: seed files (``polyglot-harness seeds`` output and the
  bundled sample each language record names);
- :mod:`~harness.seeds.hub`: publishing pools;
- :mod:`~harness.seeds.text`: the normalised text and duplicate key every path shares.
"""

from __future__ import annotations

from harness.seeds.hub import push_to_hub
from harness.seeds.pool import (
    DEFAULT_SAMPLE_SIZE,
    DEFAULT_SEED,
    SEED_COLUMNS,
    build_seeds,
    sample_seed_pool,
)
from harness.seeds.sources import (
    SOURCES,
    Rule,
    SeedSource,
    default_sources,
    language_labels,
    load_source,
    read_candidates,
    seed_id,
)
from harness.seeds.store import load_seed_rows, save_seeds
from harness.seeds.text import dedupe_key, normalize_text

__all__ = [
    "DEFAULT_SAMPLE_SIZE",
    "DEFAULT_SEED",
    "SEED_COLUMNS",
    "SOURCES",
    "Rule",
    "SeedSource",
    "build_seeds",
    "dedupe_key",
    "default_sources",
    "language_labels",
    "load_seed_rows",
    "load_source",
    "normalize_text",
    "push_to_hub",
    "read_candidates",
    "sample_seed_pool",
    "save_seeds",
    "seed_id",
]
