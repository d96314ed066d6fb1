"""What the lm-eval task YAMLs call (through the thin ``tasks/polyglot/utils.py``).

lm-eval hands ``custom_dataset`` the task's metadata merged with ``--metadata`` plus the
YAML's ``dataset_kwargs``, so a user steers generation from the command line:
``--metadata '{"seeds": "seeds/", "n_docs": 3500, "seed": 7}'``.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from harness.generate.validity import assess
from harness.schema import TaskDoc

if TYPE_CHECKING:
    from datasets import Dataset

# The per-document metrics process_results returns; taskgen aggregates the same names.
METRICS = ("valid", "lang_match", "prompt_chars", "response_chars")

# The Arrow bytes the document cache may hold. A paper-sized grid (6 languages x 3
# strategies x 10,000 documents) is ~0.3 GB (benchmarks/bench_docs.py), so one run's tasks
# all fit: a run loads its tasks in a fixed cycle, so evicting one rebuilds it every chunk.
DOCS_CACHE_BYTES = 1 << 30


class DocsCache:
    """Built task datasets by :func:`~harness.generate.docs.docs_key`, bounded in bytes.

    Why: lm-eval builds a task's dataset each time the task is loaded, and the runner
    loads every task once at start and again for each chunk it is in (41 times for
    10,000 documents in chunks of 256), each load 0.5-1 s of identical work. Entries are
    evicted least recently used once their Arrow data pass ``max_bytes``; a dataset
    larger than that is not kept. Callers get their own ``Dataset`` object over the
    shared, immutable Arrow buffers (``copy.deepcopy`` shares them), so one caller's
    ``set_format`` cannot reach another, and a task lm-eval holds costs no extra memory.
    """

    def __init__(self, max_bytes: int = DOCS_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, Dataset] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        """The Arrow bytes held now (never above ``max_bytes``)."""
        return sum(d.data.nbytes for d in self._entries.values())

    def get(self, key: Hashable) -> Dataset | None:
        """A copy of the dataset stored under ``key``, or None; marks it recently used."""
        if key not in self._entries:
            return None
        self._entries.move_to_end(key)
        return copy.deepcopy(self._entries[key])

    def put(self, key: Hashable, dataset: Dataset) -> None:
        """Keep a copy of ``dataset``, evicting the least recently used past the bound."""
        self._entries.pop(key, None)
        if dataset.data.nbytes > self.max_bytes:
            return
        self._entries[key] = copy.deepcopy(dataset)
        while self.nbytes > self.max_bytes:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        """Drop every entry: the runner calls this when a run ends, so documents are not
        held for the rest of the process."""
        self._entries.clear()


DOCS_CACHE = DocsCache()


def load_docs(
    *,
    language: str,
    strategy: str,
    seeds: str | None = None,
    n_docs: int | None = None,
    seed: int = 1234,
    **_ignored: Any,
) -> Any:
    """``custom_dataset`` entry point: a ``DatasetDict`` with one ``test`` split.

    Served from :data:`DOCS_CACHE` when this process built the same documents before
    (same arguments, same seed file bytes), else built and stored.
    """
    from datasets import DatasetDict

    from harness.generate.docs import docs_key

    args: dict[str, Any] = {
        "seeds": seeds,
        "n_docs": None if n_docs is None else int(n_docs),
        "seed": int(seed),
    }
    key = docs_key(language, strategy, **args)
    dataset = DOCS_CACHE.get(key)
    if dataset is None:
        dataset = build_dataset(language, strategy, **args)
        if docs_key(language, strategy, **args) == key:  # no rewrite of the seeds meanwhile
            DOCS_CACHE.put(key, dataset)
    return DatasetDict({"test": dataset})


def build_dataset(
    language: str, strategy: str, *, seeds: str | None, n_docs: int | None, seed: int
) -> Dataset:
    """The task's documents as a ``Dataset``, built afresh (what :func:`load_docs` caches)."""
    from datasets import Dataset

    from harness.generate.docs import build_docs

    docs = build_docs(language, strategy, seeds=seeds, n_docs=n_docs, seed=seed)
    return Dataset.from_list([dict(d) for d in docs])


def process_results(doc: TaskDoc, results: list[str]) -> dict[str, float]:
    """Per-document metrics lm-eval aggregates into the task's printed table.

    The collected dataset recomputes the verdict from the raw output, so these
    numbers are a live preview, not the record.
    """
    verdict = assess(
        doc["strategy"], results[0] if results else "", doc["language"],
        source_prompt=doc["source_prompt"],
    )  # fmt: skip
    values = (
        verdict.valid,
        verdict.detected_language == doc["language"],
        len(verdict.prompt),
        len(verdict.response),
    )
    return {name: float(value) for name, value in zip(METRICS, values, strict=True)}
