"""Turn seed rows into the documents of the ``polyglot_{strategy}_{lang}`` tasks.

Documents are deterministic for a given (seeds, language, strategy, n_docs, seed): the
same run reproduces the same prompts, and each document carries stable seed ids so a
collected row can be traced back to what the teacher saw. generate and translate
documents also carry :data:`harness.protocol.SCHEMA_DOC_KEY`: backends that offer
schema-guided decoding hold those outputs to the pair schema; others ignore the key.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import random
from collections.abc import Hashable, Sequence

from harness.errors import ConfigError, EmptyDataError
from harness.generate.prompts import (
    generate_prompt,
    respond_prompt,
    system_prompt,
    translate_prompt,
)
from harness.languages import SOURCE_LANGUAGE, get_language
from harness.protocol import PAIR_SCHEMA, SCHEMA_DOC_KEY
from harness.schema import SeedRow, Strategy, TaskDoc

logger = logging.getLogger(__name__)

EXAMPLES_PER_DOC = 3
# The strategies whose output is a JSON pair, so whose documents ask for the schema.
PAIR_STRATEGIES = frozenset({Strategy.GENERATE, Strategy.TRANSLATE})


def pool_language(language: str, strategy: Strategy) -> str:
    """The language whose seed file a task draws on: translate's sources are English."""
    return SOURCE_LANGUAGE.code if strategy is Strategy.TRANSLATE else language


def docs_key(
    language: str,
    strategy: str | Strategy,
    *,
    seeds: str | None = None,
    n_docs: int | None = None,
    seed: int = 1234,
) -> tuple[Hashable, ...]:
    """Everything :func:`build_docs` output depends on, as a hashable cache key.

    The seed file enters by a SHA-256 of its bytes, read now, not by path or mtime: a
    pool rewritten in place (same path and size, within the file system's timestamp
    granularity) still gets a new key, so a cache never serves an older pool's
    documents. The language record enters whole, so a language pack that changes it is
    seen too; the prompt templates and the schema are code, fixed for the process.
    """
    from harness.seeds.store import seed_file  # the file load_seed_rows reads, no other

    strategy = Strategy(strategy)
    lang = get_language(language)
    path = seed_file(pool_language(lang.code, strategy), seeds)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return (lang, strategy.value, n_docs, seed, digest)


def _pool(language: str, seeds: str | None) -> list[SeedRow]:
    from harness.seeds import load_seed_rows

    rows = [r for r in load_seed_rows(language, seeds) if (r.get("prompt") or "").strip()]
    if not rows:
        raise EmptyDataError(f"no seed prompts for language {language!r} in {seeds or 'bundled'}")
    return rows


def _doc(
    seed_id: str,
    seed_ids: Sequence[str],
    language: str,
    strategy: Strategy,
    user_prompt: str,
    *,
    source_prompt: str = "",
) -> TaskDoc:
    doc = TaskDoc(
        seed_id=seed_id,
        seed_ids=list(seed_ids),
        language=language,
        strategy=strategy.value,
        category="",  # generate: the teacher picks the category and does not name it
        source_prompt=source_prompt,
        system_prompt=system_prompt(get_language(language)),
        user_prompt=user_prompt,
        target="",
    )
    if strategy in PAIR_STRATEGIES:  # a copy each: a caller editing one doc edits no other
        doc[SCHEMA_DOC_KEY] = copy.deepcopy(PAIR_SCHEMA)  # type: ignore[literal-required]
    return doc


_WARNED: set[tuple[str, str, int, int, str | None]] = set()


def _warn_capped(
    strategy: Strategy, language: str, requested: int, available: int, seeds: str | None
) -> None:
    """Say that translate/respond build fewer documents than asked, once per task.

    Without it ``n_docs=3500`` on the bundled seeds yields a dataset that is nearly
    all *generate* and nothing says so. lm-eval rebuilds the documents for every
    chunk, hence the once-only set.
    """
    key = (strategy.value, language, requested, available, seeds)
    if key in _WARNED:
        return
    _WARNED.add(key)
    logger.warning(
        "%s %s: %d documents requested but the seed pool (%s) holds only %d prompts, so "
        "only %d will be generated; build a larger pool with `polyglot-harness seeds` "
        "and pass it as seeds",
        strategy.value, language, requested, seeds or "bundled", available, available,
    )  # fmt: skip


def build_docs(
    language: str,
    strategy: str | Strategy,
    *,
    seeds: str | None = None,
    n_docs: int | None = None,
    seed: int = 1234,
) -> list[TaskDoc]:
    """Documents for one (language, strategy).

    Args:
        language: target language, ISO 639-1.
        strategy: generate, translate or respond.
        seeds: a seed folder (``polyglot-harness seeds`` output); ``None`` uses the
            bundled sample.
        n_docs: how many documents. generate can make any number (each draws fresh
            examples); translate and respond use each seed at most once, so they are
            capped at the pool size (with a warning naming both counts; collect
            records the cap for the dataset card). Default: the pool size.
        seed: shuffling seed; the language and strategy are mixed in so tasks differ.
    """
    strategy = Strategy(strategy)
    lang = get_language(language)
    if n_docs is not None and n_docs < 1:
        raise ConfigError(f"n_docs must be >= 1, got {n_docs}")
    rng = random.Random(f"{seed}-{lang.code}-{strategy.value}")

    if strategy is Strategy.GENERATE:
        pool = _pool(lang.code, seeds)
        answered = [r for r in pool if (r.get("response") or "").strip()]
        if len(answered) >= EXAMPLES_PER_DOC:  # examples teach best with their answers
            pool = answered
        if len(pool) < EXAMPLES_PER_DOC:
            raise EmptyDataError(
                f"generate needs >= {EXAMPLES_PER_DOC} seed examples for {lang.code!r}, "
                f"found {len(pool)}"
            )
        docs = []
        for i in range(n_docs or len(pool)):
            examples = rng.sample(pool, EXAMPLES_PER_DOC)
            docs.append(
                _doc(
                    f"{lang.code}-gen-{seed}-{i:05d}",
                    [e["seed_id"] for e in examples],
                    lang.code,
                    strategy,
                    generate_prompt(lang, examples),
                )
            )
        return docs

    pool = _pool(pool_language(lang.code, strategy), seeds)
    if n_docs is not None and n_docs > len(pool):
        _warn_capped(strategy, lang.code, n_docs, len(pool), seeds)
    rng.shuffle(pool)
    docs = []
    for row in pool[: n_docs or len(pool)]:
        source = row["prompt"].strip()
        user = (
            translate_prompt(lang, source)
            if strategy is Strategy.TRANSLATE
            else respond_prompt(lang, source)
        )
        docs.append(
            _doc(row["seed_id"], [row["seed_id"]], lang.code, strategy, user, source_prompt=source)
        )
    return docs
