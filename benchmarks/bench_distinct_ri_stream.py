"""distinct_ri over 1.4M x 384 float32 embeddings streamed from disk, in bounded memory.

Writes the embeddings chunk by chunk to a ``.npy`` (2.15 GB; never whole in memory),
then streams it back through ``harness.intrinsic.distinct_ri`` with
``iter_npy_rows`` (one short-lived memory map per block). Prints the wall time of each
phase and the process's peak RSS (``resource.getrusage``); the goal is < 1 GB, i.e.
well under the 2.15 GB the matrix itself would take, let alone the paper's n x n one.

Run: python benchmarks/bench_distinct_ri_stream.py [--rows 1400000] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

CHUNK = 50_000


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def write_embeddings(path: Path, rows: int, dims: int, seed: int = 0) -> None:
    """Header, then raw float32 rows appended chunk by chunk (a valid .npy)."""
    rng = np.random.default_rng(seed)
    centre = rng.standard_normal(dims).astype(np.float32)
    with path.open("wb") as fh:
        header = {"descr": "<f4", "fortran_order": False, "shape": (rows, dims)}
        np.lib.format.write_array_header_1_0(fh, header)
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            chunk = centre + 1.5 * rng.standard_normal((n, dims), dtype=np.float32)
            fh.write(chunk.astype("<f4", copy=False).tobytes())


def main(rows: int, dims: int, folder: str | None, batch_rows: int) -> None:
    from harness.intrinsic import distinct_ri, iter_npy_rows

    rss_start = peak_rss_mb()
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        path = Path(tmp) / "embeddings.npy"
        t0 = time.perf_counter()
        write_embeddings(path, rows, dims)
        t_write = time.perf_counter() - t0
        rss_write = peak_rss_mb()
        size_gb = path.stat().st_size / 1e9

        check = np.load(path, mmap_mode="r")
        assert check.shape == (rows, dims)
        del check

        t0 = time.perf_counter()
        value = distinct_ri(iter_npy_rows(path, batch_rows=batch_rows))
        t_stream = time.perf_counter() - t0
        rss_end = peak_rss_mb()

    print(f"distinct_ri streamed from disk: {rows:,} x {dims} float32 ({size_gb:.2f} GB .npy)")
    print(f"{'phase':<28} | {'wall s':>7} | {'peak RSS MB':>11}")
    print("-" * 52)
    print(f"{'after imports':<28} | {'':>7} | {rss_start:>11.0f}")
    print(f"{'write .npy in chunks':<28} | {t_write:>7.1f} | {rss_write:>11.0f}")
    print(f"{f'stream, {batch_rows:,}-row blocks':<28} | {t_stream:>7.1f} | {rss_end:>11.0f}")
    print(f"rows/s streamed: {rows / t_stream:,.0f};  distinct_ri = {value:.6f}")
    print(
        f"peak RSS / file size = {rss_end / 1e3 / size_gb:.2f}; "
        f"goal < 1 GB: {'met' if rss_end < 1024 else 'NOT met'}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_400_000)
    parser.add_argument("--dims", type=int, default=384)
    parser.add_argument("--dir", default=None, help="where the temporary .npy goes")
    parser.add_argument("--batch-rows", type=int, default=65_536)
    args = parser.parse_args()
    main(args.rows, args.dims, args.dir, args.batch_rows)
