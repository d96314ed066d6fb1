"""Seed pools: each language's sources mixed as the paper's released code mixes them.

Pools follow the paper's code (METHOD.md, "Protocol facts"): each source keeps its
natural share (the deduplicated rows of all sources shuffled with one fixed seed, the
first N taken), not an equal share per source.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import ConfigError, EmptyDataError
from harness.languages import SOURCE_LANGUAGE, parse_languages
from harness.protocol import DOCUMENTS_PER_STRATEGY
from harness.schema import SeedRow
from harness.seeds.sources import SOURCES, default_sources, load_source, read_candidates
from harness.seeds.text import dedupe_key

if TYPE_CHECKING:
    import datasets

logger = logging.getLogger(__name__)

# Per language: translate and respond use each seed once, so the pool covers the
# paper's documents per strategy.
DEFAULT_SAMPLE_SIZE = DOCUMENTS_PER_STRATEGY
DEFAULT_SEED = 3407
SEED_COLUMNS: tuple[str, ...] = ("seed_id", "language", "prompt", "response", "source", "category")


def sample_seed_pool(
    by_source: Mapping[str, Sequence[SeedRow]], sample_size: int, seed_key: str
) -> list[SeedRow]:
    """Dedupe across sources (registry order wins), then the first ``sample_size`` rows
    of one shuffle of them all.

    Each source keeps its natural share, as in the paper's code: a source holding 90%
    of the candidates holds about 90% of the pool. The shuffle runs over rows sorted by
    seed id, so the pool depends only on the rows and ``seed_key``, not on load order;
    a smaller ``sample_size`` gives a prefix of a larger one.
    """
    seen: set[str] = set()
    unique: list[SeedRow] = []
    for rows in by_source.values():
        for row in rows:
            key = dedupe_key(row["prompt"])
            if key not in seen:
                seen.add(key)
                unique.append(row)
    unique.sort(key=lambda r: (r["seed_id"], r["prompt"]))
    random.Random(seed_key).shuffle(unique)
    return unique[:sample_size]


def build_seeds(
    languages: str | Sequence[str] | None,
    *,
    sources: Sequence[str] | None = None,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    seed: int = DEFAULT_SEED,
    source_paths: Mapping[str, str | Path] | None = None,
    min_prompt_chars: int = 8,
    max_prompt_chars: int = 2_000,
    max_response_chars: int = 4_000,
    progress: bool = True,
) -> dict[str, datasets.Dataset]:
    """Build one seed dataset per language from the registry's sources.

    Each source is loaded once and filtered per language; rows are normalized, length
    filtered, deduplicated on their normalized prompt (across sources too: HelpSteer3
    prompts partly come from WildChat), then ``sample_size`` rows are drawn with each
    source's natural share (:func:`sample_seed_pool`). The result depends only on the
    inputs and ``seed``.

    Args:
        languages: ISO 639-1 codes (``"de,ja"``, a list, or ``None``/``"all"`` for the
            grid plus ``en``, the translate strategy's English pool).
        sources: registry names; default: :func:`default_sources` per language.
            A single-language source only feeds its own language.
        sample_size: rows per language at most.
        seed: sampling seed.
        source_paths: ``{name: file or folder}`` to read a local copy instead of the Hub.
        min_prompt_chars: shorter prompts are dropped (greetings, "hi").
        max_prompt_chars: longer prompts are dropped (pasted documents).
        max_response_chars: rows with longer responses are dropped.
        progress: show a tqdm bar over the sources.

    Returns ``{language: Dataset}`` with the columns of :data:`SEED_COLUMNS`; raises
    ConfigError (unknown source or language, schema mismatch), HubError (a source not
    loadable from the Hub) or EmptyDataError (a language ends up with no rows).
    """
    import datasets
    from tqdm.auto import tqdm

    if sample_size < 1:
        raise ConfigError(f"sample_size must be >= 1, got {sample_size}")
    if languages is None or languages in ("", "all"):
        codes = [lang.code for lang in parse_languages(None)] + [SOURCE_LANGUAGE.code]
    else:
        codes = list(dict.fromkeys(lang.code for lang in parse_languages(languages)))
    paths = dict(source_paths or {})
    for name in [*(sources or []), *paths]:
        if name not in SOURCES:
            raise ConfigError(f"unknown seed source {name!r}; known: {', '.join(SOURCES)}")
    plan: dict[str, list[str]] = {}  # source -> languages it feeds
    for code in codes:
        names = default_sources(code) if sources is None else list(sources)
        usable = [n for n in names if SOURCES[n].fixed_language in (None, code)]
        if not usable:
            raise ConfigError(f"none of the sources {names} has rows in language {code!r}")
        for name in usable:
            plan.setdefault(name, []).append(code)
    plan = {n: plan[n] for n in SOURCES if n in plan}  # registry order: dedupe priority
    pools: dict[str, dict[str, list[SeedRow]]] = {code: {} for code in codes}
    limits = (min_prompt_chars, max_prompt_chars, max_response_chars)
    with tqdm(total=len(plan), desc="seed sources", unit="source", disable=not progress) as bar:
        for name, langs in plan.items():
            bar.set_postfix_str(name)
            found = read_candidates(
                SOURCES[name], load_source(SOURCES[name], paths.get(name)), langs, limits
            )
            for code, rows in found.items():
                pools[code][name] = rows
                logger.info("%s: %d candidate rows for %s", name, len(rows), code)
            bar.update()
    features = datasets.Features({c: datasets.Value("string") for c in SEED_COLUMNS})
    result = {}
    for code in codes:
        rows = sample_seed_pool(pools[code], sample_size, f"{seed}-{code}")
        if not rows:
            raise EmptyDataError(
                f"no seed rows for language {code!r} from {', '.join(pools[code])}"
            )
        table = {c: [str(r.get(c, "")) for r in rows] for c in SEED_COLUMNS}
        result[code] = datasets.Dataset.from_dict(table, features=features)
    return result
