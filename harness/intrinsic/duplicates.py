"""Exact and near-duplicate rates of a dataset's texts.

A teacher that keeps producing the same pair inflates its row count without adding
training signal. Exact duplicates are counted after light normalisation; near
duplicates by MinHash over character 5-shingles with LSH banding, implemented in numpy
with fixed seeds, so a rate is reproducible across runs and machines (no use of Python's
per-process string hash). Why not datasketch: on the same shingles, checks and clustering
it is ~1.5x slower, and its default bands miss near duplicates ours find
(``benchmarks/bench_duplicates.py``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

import numpy as np

from harness.errors import EmptyDataError

_SPACE = re.compile(r"\s+")
_MASK64 = (1 << 64) - 1


def normalize_text(text: str) -> str:
    """NFKC, case-folded, whitespace collapsed: differences nobody would call new data."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def exact_duplicate_rate(texts: Iterable[str]) -> float:
    """Share of rows that repeat an earlier row after :func:`normalize_text`.

    This is the share a keep-first exact dedup would remove: ``1 - unique / n``.

    Raises:
        EmptyDataError: no texts.
    """
    seen: set[str] = set()
    n = 0
    for text in texts:
        n += 1
        seen.add(normalize_text(text))
    if n == 0:
        raise EmptyDataError("exact_duplicate_rate needs at least one text")
    return 1.0 - len(seen) / n


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads polynomial hashes over all 64 bits."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def shingle_hashes(text: str, k: int = 5) -> np.ndarray:
    """Unique 64-bit hashes of the character k-shingles of a normalised text.

    A text shorter than k is one shingle (itself), so short texts still compare.
    """
    codes = np.frombuffer(normalize_text(text).encode("utf-32-le"), dtype=np.uint32)
    codes = codes.astype(np.uint64) + np.uint64(1)  # so that padding-free zeros differ
    if codes.size < k:
        codes = np.concatenate([codes, np.zeros(k - codes.size, dtype=np.uint64)])
    windows = np.lib.stride_tricks.sliding_window_view(codes, k)
    base = np.uint64(1_000_003)
    h = np.zeros(windows.shape[0], dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):
            h = h * base + windows[:, j]
    return np.unique(_mix64(h))


class MinHasher:
    """MinHash signatures with a fixed, seeded family of multiply-shift hashes.

    ``h_j(x) = (a_j * x + b_j) mod 2^64 >> 32`` with odd ``a_j``: a universal family
    cheap enough in numpy; signatures are uint32, 4 bytes x ``num_perm`` per row.
    """

    def __init__(self, num_perm: int = 128, seed: int = 3407) -> None:
        rng = np.random.default_rng(seed)
        self.num_perm = num_perm
        self.a = rng.integers(0, 2**63, size=(num_perm, 1), dtype=np.uint64) * np.uint64(
            2
        ) + np.uint64(1)
        self.b = rng.integers(0, 2**63, size=(num_perm, 1), dtype=np.uint64)

    def signature(self, shingles: np.ndarray) -> np.ndarray:
        """The ``num_perm`` minimum hash values of a shingle set."""
        with np.errstate(over="ignore"):
            hashed = (self.a * shingles[None, :] + self.b) >> np.uint64(32)
        return hashed.min(axis=1).astype(np.uint32)

    def signatures(self, texts: Iterable[str], k: int = 5) -> np.ndarray:
        """An ``(n, num_perm)`` uint32 matrix, one row per text."""
        rows = [self.signature(shingle_hashes(t, k)) for t in texts]
        if not rows:
            return np.zeros((0, self.num_perm), dtype=np.uint32)
        return np.stack(rows)


def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """Bands x rows with the S-curve's midpoint ``(1/b)^(1/r)`` just below ``threshold``.

    Just below, not nearest: banding should miss few true pairs (recall), since every
    candidate is then verified against the threshold on the full signature anyway.
    """
    best: tuple[float, int, int] | None = None
    for r in range(1, num_perm + 1):
        if num_perm % r:
            continue
        b = num_perm // r
        midpoint = (1 / b) ** (1 / r)
        if midpoint <= threshold and (best is None or midpoint > best[0]):
            best = (midpoint, b, r)
    return (best[1], best[2]) if best else (num_perm, 1)


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def near_duplicate_groups(
    texts: Sequence[str],
    *,
    threshold: float = 0.8,
    num_perm: int = 128,
    shingle: int = 5,
    seed: int = 3407,
) -> np.ndarray:
    """Cluster rows whose estimated Jaccard similarity reaches ``threshold``.

    Candidate pairs come from LSH banding and are kept only when the fraction of equal
    MinHash values reaches ``threshold``; clusters are the connected components.

    Returns:
        An int array: for each row, the index of the first row of its cluster.
    """
    sigs = MinHasher(num_perm, seed).signatures(texts, shingle)
    n = sigs.shape[0]
    parent = list(range(n))
    bands, rows = lsh_params(threshold, num_perm)
    for band in range(bands):
        block = np.ascontiguousarray(sigs[:, band * rows : (band + 1) * rows])
        keys = block.view(np.dtype((np.void, block.dtype.itemsize * rows))).ravel()
        # A bucket keeps one member per cluster it has met, so a row is compared with
        # every distinct cluster sharing the band, and copies cost one comparison.
        buckets: dict[bytes, list[int]] = {}
        for i, key in enumerate(keys.tolist()):
            members = buckets.setdefault(key, [])
            merged = False
            for j in members:
                ri, rj = _find(parent, i), _find(parent, j)
                if ri == rj:
                    merged = True
                elif np.count_nonzero(sigs[i] == sigs[j]) >= threshold * num_perm:
                    parent[max(ri, rj)] = min(ri, rj)
                    merged = True
            if not merged:
                members.append(i)
    return np.array([_find(parent, i) for i in range(n)], dtype=np.int64)


def near_duplicate_rate(
    texts: Sequence[str],
    *,
    threshold: float = 0.8,
    num_perm: int = 128,
    shingle: int = 5,
    seed: int = 3407,
) -> float:
    """Share of rows a keep-one-per-cluster near-dedup would remove (exact dups included).

    Args:
        texts: The texts.
        threshold: Estimated Jaccard similarity of 5-shingle sets at or above which two
            rows are near duplicates.
        num_perm: MinHash size; 128 estimates Jaccard within about +-0.09 (2 sigma).
        shingle: Characters per shingle (characters, so that it works without spaces).
        seed: Seed of the hash family; fixed so rates reproduce.

    Raises:
        EmptyDataError: no texts.
    """
    if len(texts) == 0:
        raise EmptyDataError("near_duplicate_rate needs at least one text")
    groups = near_duplicate_groups(
        texts, threshold=threshold, num_perm=num_perm, shingle=shingle, seed=seed
    )
    return 1.0 - len(np.unique(groups)) / len(texts)
