"""Run the generation tasks for one teacher through lm-eval's Python API.

This is what ``lm_eval --tasks 'polyglot_*' --log_samples --output_path`` does, with two
additions a long run needs: a per-teacher request cache so an interrupted run resumes
where it stopped (lm-eval commits each response to SQLite as it arrives), and outputs in
exactly the CLI's layout so :mod:`harness.collect` reads both alike.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.languages import parse_languages
from harness.naming import slug
from harness.redact import scrub_lm_eval_output, scrub_model_args
from harness.schema import STRATEGIES

logger = logging.getLogger(__name__)


@dataclass
class GenerationConfig:
    """One teacher's generation run."""

    model: str = field(default="hf", metadata={"help": "lm-eval model type (hf, vllm, ...)"})
    model_args: str = field(default="", metadata={"help": "lm-eval model_args string"})
    languages: list[str] | None = field(default=None, metadata={"help": "ISO codes; None: grid"})
    strategies: list[str] = field(
        default_factory=lambda: list(STRATEGIES), metadata={"help": "generate, translate, respond"}
    )
    limit: int | None = field(
        default=None, metadata={"help": "documents per task (lm-eval --limit)"}
    )
    n_docs: int | None = field(default=None, metadata={"help": "documents built per task"})
    seeds: str | None = field(default=None, metadata={"help": "seed folder; None: bundled sample"})
    seed: int = field(default=1234, metadata={"help": "document sampling seed"})
    max_gen_toks: int | None = field(default=None, metadata={"help": "override max new tokens"})
    batch_size: int | str = field(
        default=8, metadata={"help": "lm-eval batch size (avoid auto on CPU)"}
    )
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, ..."})
    apply_chat_template: bool = field(
        default=True, metadata={"help": "render prompts with the teacher's chat template"}
    )
    chunk_size: int = field(
        default=256,
        metadata={"help": "documents per task saved as one unit; a rerun skips saved chunks"},
    )

    def __post_init__(self) -> None:
        bad = [s for s in self.strategies if s not in STRATEGIES]
        if bad:
            raise ConfigError(f"unknown strategy {bad[0]!r}; use {', '.join(STRATEGIES)}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"limit must be >= 1, got {self.limit}")
        if self.chunk_size < 1:
            raise ConfigError(f"chunk_size must be >= 1, got {self.chunk_size}")
        if self.max_gen_toks is not None and self.max_gen_toks < 1:
            raise ConfigError(f"max_gen_toks must be >= 1, got {self.max_gen_toks}")

    def tasks(self) -> list[str]:
        from harness.generate.taskgen import task_name  # not at import: taskgen runs as __main__

        return [
            task_name(s, lang.code)
            for lang in parse_languages(self.languages)
            for s in self.strategies
        ]


def _progress_path(output_path: Path, config: GenerationConfig) -> Path:
    # Named by a hash: model_args may hold credentials that must not reach file names.
    digest = hashlib.sha1(f"{config.model}|{config.model_args}".encode()).hexdigest()[:12]
    return output_path / ".progress" / f"{slug(config.model)}-{digest}.json"


def _fingerprint(config: GenerationConfig) -> dict[str, Any]:
    """What must match for finished chunks of an earlier run to count as done."""
    return {
        "model": config.model,
        "model_args": scrub_model_args(config.model_args),
        "seeds": str(config.seeds),
        "seed": config.seed,
        "n_docs": config.n_docs,
        "max_gen_toks": config.max_gen_toks,
        "apply_chat_template": config.apply_chat_template,
        "chunk_size": config.chunk_size,
    }


def _load_progress(path: Path, fingerprint: dict[str, Any]) -> set[str]:
    if not path.is_file():
        return set()
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        logger.warning("ignoring unreadable progress file %s", path)
        return set()
    if state.get("fingerprint") != fingerprint:
        logger.info("settings changed since the last run: starting afresh")
        return set()
    return set(state.get("done", []))


def _save_progress(path: Path, fingerprint: dict[str, Any], done: set[str]) -> None:
    """Record the finished chunks atomically: a kill mid-write keeps the last good list."""
    from harness.files import atomic_write_text

    atomic_write_text(path, json.dumps({"fingerprint": fingerprint, "done": sorted(done)}))


def _chunk_key(task: str, indices: list[int]) -> str:
    """Start and end: a rerun with a larger ``--limit`` extends a short last chunk."""
    return f"{task}:{indices[0]}-{indices[-1]}"


def plan_chunks(sizes: dict[str, int], chunk_size: int) -> list[dict[str, list[int]]]:
    """Rounds of ``{task: doc indices}``; each round holds one chunk of every task.

    Mixing tasks in a round lets lm-eval batch all strategies and languages together.
    """
    rounds: list[dict[str, list[int]]] = []
    start = 0
    while any(start < n for n in sizes.values()):
        rounds.append(
            {
                t: list(range(start, min(n, start + chunk_size)))
                for t, n in sizes.items()
                if start < n
            }
        )
        start += chunk_size
    return rounds


def run_generation(config: GenerationConfig, output_path: str | Path) -> dict[str, Any]:
    """Run the tasks and save lm-eval results and samples under ``output_path``.

    Work is done in chunks of ``config.chunk_size`` documents per task; each finished
    chunk is saved (results + samples, in the lm-eval CLI layout) and recorded, so a
    rerun after an interruption skips what is done. (lm-eval's own request cache does
    not store sampled generations, so it cannot resume this job.)

    Returns:
        lm-eval's results dictionary of the last chunk run (without samples), or an
        empty dict when everything was already done.
    """
    from lm_eval import simple_evaluate
    from lm_eval.api.registry import get_model
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    from harness.paths import tasks_path

    output_path = Path(output_path)
    output_path.mkdir(parents=True, exist_ok=True)
    metadata: dict[str, Any] = {"seed": config.seed}
    if config.seeds:
        metadata["seeds"] = str(config.seeds)
    if config.n_docs:
        metadata["n_docs"] = config.n_docs
    # Every generation task is ours: indexing lm-eval's ~27k task files costs ~15 s a run.
    manager = TaskManager(include_path=str(tasks_path()), include_defaults=False, metadata=metadata)
    loaded = manager.load(config.tasks())["tasks"]
    sizes = {
        name: min(len(task.eval_docs), config.limit or len(task.eval_docs))
        for name, task in loaded.items()
    }
    fingerprint = _fingerprint(config)
    progress = _progress_path(output_path, config)
    done = _load_progress(progress, fingerprint)
    rounds = plan_chunks(sizes, config.chunk_size)
    todo = [
        {t: idx for t, idx in chunk.items() if _chunk_key(t, idx) not in done} for chunk in rounds
    ]
    todo = [chunk for chunk in todo if chunk]
    if not todo:
        logger.info("all %d tasks already generated in %s", len(sizes), output_path)
        return {}
    skipped = sum(len(c) for c in rounds) - sum(len(c) for c in todo)
    if skipped:
        logger.info("resuming: %d finished task chunks skipped", skipped)

    lm = get_model(config.model).create_from_arg_string(
        config.model_args,
        {"batch_size": config.batch_size, "device": config.device},
    )
    gen_kwargs = f"max_gen_toks={config.max_gen_toks}" if config.max_gen_toks else None
    # The model is built: lm-eval only records and logs model_args from here on, so it
    # never sees the credentials (and the output is scrubbed again before it is saved).
    recorded_args = scrub_model_args(config.model_args)
    results: dict[str, Any] = {}
    for number, chunk in enumerate(todo, 1):
        logger.info("chunk %d/%d: %d documents", number, len(todo), sum(map(len, chunk.values())))
        tracker = EvaluationTracker(output_path=str(output_path))
        results = simple_evaluate(
            model=lm,
            model_args=recorded_args,
            tasks=list(chunk),
            samples=chunk,
            log_samples=True,
            apply_chat_template=config.apply_chat_template,
            gen_kwargs=gen_kwargs,
            task_manager=manager,
            evaluation_tracker=tracker,
            metadata=metadata,
        )
        if results is None:  # non-zero ranks in distributed runs
            continue
        results, samples = scrub_lm_eval_output(
            results, results.pop("samples"), tracker, config.model_args, fallback_name=config.model
        )
        tracker.save_results_aggregated(results=results, samples=samples)
        for name in results["configs"]:
            tracker.save_results_samples(task_name=name, samples=samples[name])
        done.update(_chunk_key(t, idx) for t, idx in chunk.items())
        _save_progress(progress, fingerprint, done)
    return results
