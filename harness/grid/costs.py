"""What each job cost, measured by the job itself; summaries and estimates from the records.

"How many GPU-hours does it take to benchmark my model as a teacher?" is a question a
model developer asks before anything else, and the answer is only honest if it is
measured: each job records wall seconds, device kind and count, GPU-seconds (wall x
GPUs held) or CPU-seconds, peak memory, and the tokens it read and wrote. A teacher's
cost is the sum over its own jobs (generation, collection, intrinsic metrics, its
students' training and evaluation); base and reference evaluations are shared by all
teachers and reported apart.
"""

from __future__ import annotations

import logging
import resource
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from harness.files import read_jsonl

logger = logging.getLogger(__name__)

SHARED = "(shared)"


class CostMeter:
    """Measures one job from ``start()`` to ``stop()`` in the job's own process."""

    def start(self) -> CostMeter:
        self._wall = time.perf_counter()
        self._cpu = self._cpu_seconds()
        return self

    @staticmethod
    def _cpu_seconds() -> float:
        total = 0.0
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
            usage = resource.getrusage(who)
            total += usage.ru_utime + usage.ru_stime
        return total

    def stop(self, gpus_requested: int = 0) -> dict[str, Any]:
        """The cost record's measured fields."""
        wall = time.perf_counter() - self._wall
        peak_kb = max(resource.getrusage(w).ru_maxrss for w in (resource.RUSAGE_SELF,
                                                                  resource.RUSAGE_CHILDREN))  # fmt: skip
        kind, count, gpu_peak = "cpu", 0, None
        torch = sys.modules.get("torch")  # only if the job used it; never imported here
        if torch is not None and torch.cuda.is_available():
            count = gpus_requested or torch.cuda.device_count()
            kind = torch.cuda.get_device_name(0)
            gpu_peak = (
                sum(torch.cuda.max_memory_allocated(i) for i in range(torch.cuda.device_count()))
                / 2**20
            )
        return {
            "wall_s": round(wall, 3),
            "cpu_s": round(self._cpu_seconds() - self._cpu, 3),
            "device_kind": kind,
            "device_count": count,
            "gpu_s": round(wall * count, 3),
            "peak_rss_mb": round(peak_kb / 1024, 1),
            "peak_gpu_mem_mb": None if gpu_peak is None else round(gpu_peak, 1),
        }


def _sample_texts(runs: Path) -> Iterable[tuple[str, str]]:
    """(prompt, generation) of every logged sample under a generation output folder."""
    for file in sorted(runs.rglob("samples_*.jsonl")):
        for _, sample in read_jsonl(file, torn="any"):  # a cost estimate: skip what is unreadable
            args = sample.get("arguments") or {}
            first = next(iter(args.values()), {}) if isinstance(args, dict) else {}
            prompt = first.get("arg_0", "") if isinstance(first, dict) else ""
            resps = sample.get("resps") or [[""]]
            out = resps[0][0] if resps and isinstance(resps[0], list) and resps[0] else ""
            yield str(prompt), str(out)


def generation_tokens(runs: Path, model_args: str) -> dict[str, Any]:
    """Prompt and generated tokens in a generation job's output, by the teacher's tokenizer.

    Counted from lm-eval's logged samples, so the figure covers the job's whole output
    (chunks of an earlier, interrupted attempt included). ``None`` when the teacher's
    tokenizer cannot be loaded here (an API teacher): a character count is no token count.
    """
    from harness.naming import parse_model_args

    texts = list(_sample_texts(runs))
    counts: dict[str, Any] = {"n_requests": len(texts), "prompt_tokens": None,
                              "generated_tokens": None}  # fmt: skip
    name = parse_model_args(model_args).get("tokenizer") or parse_model_args(model_args).get(
        "pretrained"
    )
    if not name or not texts:
        return counts
    try:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(name)
    except Exception as exc:  # any load failure only means "not counted"
        logger.info("tokens not counted: cannot load tokenizer %s (%s)", name, type(exc).__name__)
        return counts
    prompts, outputs = zip(*texts, strict=True)
    counts["prompt_tokens"] = sum(len(ids) for ids in tokenizer(list(prompts))["input_ids"])
    counts["generated_tokens"] = sum(len(ids) for ids in tokenizer(list(outputs))["input_ids"])
    return counts


def latest_per_job(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The last cost record of each job key (a rerun with new settings replaces the old)."""
    return {r["key"]: r for r in records if isinstance(r.get("key"), str)}


def summarise(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """``{teacher: {stage: {wall_h, gpu_h, cpu_h, jobs, prompt_tokens, generated_tokens}}}``,
    plus a ``total`` stage per teacher. Shared jobs are under :data:`SHARED`."""
    table: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(
        lambda: {"jobs": 0, "wall_h": 0.0, "gpu_h": 0.0, "cpu_h": 0.0,
                 "prompt_tokens": 0, "generated_tokens": 0}))  # fmt: skip
    for rec in latest_per_job(records).values():
        who = rec.get("teacher") or SHARED
        for stage in (rec.get("stage", "?"), "total"):
            cell = table[who][stage]
            cell["jobs"] += 1
            cell["wall_h"] += (rec.get("wall_s") or 0) / 3600
            cell["gpu_h"] += (rec.get("gpu_s") or 0) / 3600
            cell["cpu_h"] += (rec.get("cpu_s") or 0) / 3600
            for key in ("prompt_tokens", "generated_tokens"):
                cell[key] += rec.get(key) or 0
    return {t: dict(stages) for t, stages in table.items()}


def teacher_gpu_hours(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per teacher: ``gpu_h``, ``cpu_h`` and ``wall_h`` of its own jobs (the leaderboard column)."""
    return {
        teacher: {k: stages["total"][k] for k in ("gpu_h", "cpu_h", "wall_h")}
        for teacher, stages in summarise(records).items()
        if teacher != SHARED
    }


def format_summary(records: Sequence[dict[str, Any]]) -> str:
    """The cost table ``run`` prints: one line per teacher and stage."""
    from tabulate import tabulate

    from harness.grid.spec import STAGES

    order = {stage: i for i, stage in enumerate((*STAGES, "total"))}
    lines = []
    for teacher, stages in sorted(summarise(records).items()):
        for stage, cell in sorted(stages.items(), key=lambda item: order.get(item[0], 99)):
            lines.append([
                teacher, stage, cell["jobs"], f"{cell['wall_h'] * 3600:.1f}",
                f"{cell['gpu_h']:.3f}", f"{cell['cpu_h']:.3f}",
                cell["prompt_tokens"] or "", cell["generated_tokens"] or "",
            ])  # fmt: skip
    headers = ["teacher", "stage", "jobs", "wall s", "GPU-h", "CPU-h", "prompt tok", "gen tok"]
    return tabulate(lines, headers=headers, tablefmt="simple", disable_numparse=True)


def estimate(jobs: Sequence[Any], records: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per stage: jobs to run, GPUs each, and estimated wall and GPU hours.

    Each job is estimated by the mean of the recorded jobs of the same stage (and the same
    teacher when there are any, since a teacher's size drives its generation cost);
    ``None`` where nothing of that stage was ever recorded.
    """
    latest = list(latest_per_job(records).values())
    by_stage: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rec in latest:
        by_stage[rec.get("stage", "?")].append(rec)
    out: dict[str, dict[str, Any]] = {}
    for job in jobs:
        cell = out.setdefault(job.stage, {"jobs": 0, "gpus": job.resources.gpus,
                                          "wall_h": 0.0, "gpu_h": 0.0, "estimated": True})  # fmt: skip
        cell["jobs"] += 1
        similar = [r for r in by_stage.get(job.stage, []) if r.get("teacher") == job.teacher]
        similar = similar or by_stage.get(job.stage, [])
        if not similar or cell["estimated"] is False:
            cell["estimated"] = False
            continue
        wall = sum(r.get("wall_s") or 0 for r in similar) / len(similar)
        cell["wall_h"] += wall / 3600
        cell["gpu_h"] += wall * job.resources.gpus / 3600
    return out
