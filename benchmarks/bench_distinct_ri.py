"""distinct_ri: the O(n d) sum identity vs the paper's O(n^2) similarity matrix.

Prints, for n = 2k, 10k, 50k unit-normalised 384-d embeddings, the seconds taken by
the paper's computation (sim = E @ E.T, mean of the off-diagonal) and by
``harness.intrinsic.distinct_ri``, their ratio, and the absolute difference of the
two values (checked to be below 1e-6). At 50k the full float32 matrix would be 10 GB,
so the naive side is computed in row blocks of the same matrix (same arithmetic, same
O(n^2) work, bounded memory); that is stated in the table.

Run: python benchmarks/bench_distinct_ri.py [--sizes 2000 10000 50000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

BLOCK = 5_000  # rows of the similarity matrix held at once by the blocked naive path
FULL_LIMIT = 10_000  # above this, the naive matrix is built in row blocks


def naive_distinct_ri(emb: np.ndarray) -> tuple[float, str]:
    """The paper's way: normalise, full cosine matrix, mean off-diagonal (float32)."""
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    n = len(unit)
    if n <= FULL_LIMIT:
        sim = unit @ unit.T
        off = sim.sum(dtype=np.float64) - np.trace(sim, dtype=np.float64)
        return 1.0 - off / (n * (n - 1)), "full matrix"
    off = 0.0
    for start in range(0, n, BLOCK):
        block = unit[start : start + BLOCK] @ unit.T  # rows start.. of the full matrix
        diag = np.einsum("ij,ij->i", unit[start : start + BLOCK], unit[start : start + BLOCK])
        off += block.sum(dtype=np.float64) - diag.sum(dtype=np.float64)
    return 1.0 - off / (n * (n - 1)), f"row blocks of {BLOCK}"


def main(sizes: list[int], dims: int = 384, seed: int = 0) -> None:
    from harness.intrinsic import distinct_ri

    rng = np.random.default_rng(seed)
    centre = rng.standard_normal(dims).astype(np.float32)
    rows = []
    for n in sizes:
        # Embedding-like data: a shared direction plus noise (mean cosine ~0.3).
        emb = (centre + 1.5 * rng.standard_normal((n, dims), dtype=np.float32)).astype(np.float32)
        t0 = time.perf_counter()
        want, how = naive_distinct_ri(emb)
        t_naive = time.perf_counter() - t0
        t0 = time.perf_counter()
        got = distinct_ri(emb)
        t_ours = time.perf_counter() - t0
        diff = abs(got - want)
        if diff > 1e-6:
            raise SystemExit(f"n={n}: values differ by {diff:.2e} (> 1e-6)")
        rows.append((n, how, t_naive, t_ours, t_naive / t_ours, got, diff))

    print(f"distinct_ri, d={dims}, float32 embeddings, {time.strftime('%Y-%m-%d')}")
    header = f"{'n':>7} | {'naive (paper)':>22} | {'naive s':>8} | {'ours s':>8} | {'speed-up':>9} | {'distinct_ri':>11} | {'|diff|':>8}"
    print(header)
    print("-" * len(header))
    for n, how, tn, to, ratio, val, diff in rows:
        print(
            f"{n:>7} | {how:>22} | {tn:>8.3f} | {to:>8.4f} | {ratio:>8.0f}x | {val:>11.6f} | {diff:>8.1e}"
        )
    print("memory: naive O(n^2) (10 GB float32 matrix at n=50k unless blocked); ours O(d)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2_000, 10_000, 50_000])
    main(parser.parse_args().sizes)
