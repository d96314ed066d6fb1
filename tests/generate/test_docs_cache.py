"""The in-process document cache of ``load_docs``: same documents, never stale, bounded.

The runner loads every task once per chunk, so ``load_docs`` keeps what it built; these
tests hold it to serving exactly what a fresh build gives (benchmarks/bench_docs.py
measures what it saves).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.generate.docs import build_docs
from harness.generate.runner import GenerationConfig, run_generation
from harness.generate.task_api import DOCS_CACHE, DocsCache, build_dataset, load_docs


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    DOCS_CACHE.clear()
    yield
    DOCS_CACHE.clear()


def _write_seeds(folder: Path, code: str, prompts: list[str]) -> None:
    rows = [
        {"seed_id": f"{code}-{i}", "language": code, "prompt": p, "response": "Ja."}
        for i, p in enumerate(prompts)
    ]
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    (folder / f"{code}.jsonl").write_text(text, encoding="utf-8")


@pytest.mark.parametrize("strategy", ["generate", "translate", "respond"])
def test_cached_documents_are_the_fresh_ones(strategy: str) -> None:
    args = {"language": "de", "strategy": strategy, "n_docs": 40, "seed": 1234}
    first = load_docs(**args)["test"]
    again = load_docs(**args)["test"]
    assert again.data.table is first.data.table  # served from the cache, not rebuilt
    fresh = [dict(d) for d in build_docs("de", strategy, n_docs=40, seed=1234)]
    assert json.dumps(again.to_list()) == json.dumps(first.to_list()) == json.dumps(fresh)
    other = load_docs(**{**args, "seed": 7})["test"]  # each argument is part of the key
    assert other.data.table is not first.data.table and other.to_list() != fresh
    assert len(DOCS_CACHE) == 2


def test_callers_get_their_own_dataset_objects() -> None:
    first = load_docs(language="de", strategy="respond")["test"]
    first.set_format("numpy")  # in place: must not reach the cached entry or other callers
    again = load_docs(language="de", strategy="respond")["test"]
    assert again.format["type"] is None and isinstance(again[0]["seed_id"], str)


@pytest.mark.parametrize(("strategy", "pool"), [("respond", "de"), ("translate", "en")])
def test_a_rewritten_seed_file_is_seen(tmp_path: Path, strategy: str, pool: str) -> None:
    """Rewritten in place with the same size and mtime (a write within one timestamp tick,
    or a copy that keeps times): only the bytes tell the pools apart."""
    other = "en" if pool == "de" else "de"
    _write_seeds(tmp_path, other, [f"Unrelated {i}?" for i in range(4)])
    _write_seeds(tmp_path, pool, [f"Frage {i}a?" for i in range(4)])
    args = {"language": "de", "strategy": strategy, "seeds": str(tmp_path), "n_docs": 4}
    old = load_docs(**args)["test"].to_list()
    assert all(d["source_prompt"].endswith("a?") for d in old)
    path = tmp_path / f"{pool}.jsonl"
    before = path.stat()
    _write_seeds(tmp_path, pool, [f"Frage {i}b?" for i in range(4)])
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    new = load_docs(**args)["test"].to_list()
    assert all(d["source_prompt"].endswith("b?") for d in new)
    assert new == [dict(d) for d in build_docs("de", strategy, seeds=str(tmp_path), n_docs=4)]


def test_the_cache_stays_within_its_bytes_lru_first() -> None:
    datasets = {s: build_dataset("de", "generate", seeds=None, n_docs=50, seed=s) for s in range(4)}
    size = max(d.data.nbytes for d in datasets.values())
    cache = DocsCache(max_bytes=2 * size)
    cache.put(0, datasets[0])
    cache.put(1, datasets[1])
    assert cache.get(0) is not None  # 0 is now the most recently used
    cache.put(2, datasets[2])
    assert cache.nbytes <= cache.max_bytes and len(cache) == 2
    assert cache.get(1) is None  # the least recently used went
    assert cache.get(0).to_list() == datasets[0].to_list()
    assert cache.get(2).to_list() == datasets[2].to_list()
    tiny = DocsCache(max_bytes=size // 2)
    tiny.put(3, datasets[3])  # larger than the whole bound: not kept
    assert len(tiny) == 0 and tiny.get(3) is None


def test_a_run_releases_the_cached_documents_even_when_it_fails(tmp_path: Path) -> None:
    config = GenerationConfig(
        model="no-such-model", languages=["de"], strategies=["respond"], n_docs=5,
        structured_output=False,
    )  # fmt: skip
    with pytest.raises(ValueError, match="no-such-model"):  # after the tasks are loaded
        run_generation(config, tmp_path)
    assert len(DOCS_CACHE) == 0
