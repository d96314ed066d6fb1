"""Run the generation tasks for one teacher through lm-eval's Python API.

This is what ``lm_eval --tasks 'polyglot_*' --log_samples --output_path`` does, with two
additions a long run needs: a per-teacher request cache so an interrupted run resumes
where it stopped (lm-eval commits each response to SQLite as it arrives), and outputs in
exactly the CLI's layout so :mod:`harness.collect` reads both alike.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.generate.taskgen import task_name
from harness.languages import parse_languages
from harness.naming import slug
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
    use_cache: bool = field(default=True, metadata={"help": "cache responses so a rerun resumes"})

    def __post_init__(self) -> None:
        bad = [s for s in self.strategies if s not in STRATEGIES]
        if bad:
            raise ConfigError(f"unknown strategy {bad[0]!r}; use {', '.join(STRATEGIES)}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"limit must be >= 1, got {self.limit}")
        if self.max_gen_toks is not None and self.max_gen_toks < 1:
            raise ConfigError(f"max_gen_toks must be >= 1, got {self.max_gen_toks}")

    def tasks(self) -> list[str]:
        return [
            task_name(s, lang.code)
            for lang in parse_languages(self.languages)
            for s in self.strategies
        ]


def run_generation(config: GenerationConfig, output_path: str | Path) -> dict[str, Any]:
    """Run the tasks and save lm-eval results and samples under ``output_path``.

    Returns:
        lm-eval's results dictionary (without samples).
    """
    from lm_eval import simple_evaluate
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
    manager = TaskManager(include_path=str(tasks_path()), metadata=metadata)
    tracker = EvaluationTracker(output_path=str(output_path))
    cache = None
    if config.use_cache:
        cache_dir = output_path / ".cache"
        cache_dir.mkdir(exist_ok=True)
        cache = str(cache_dir / slug(f"{config.model}-{config.model_args}"))
    gen_kwargs = f"max_gen_toks={config.max_gen_toks}" if config.max_gen_toks else None
    results = simple_evaluate(
        model=config.model,
        model_args=config.model_args,
        tasks=config.tasks(),
        batch_size=config.batch_size,
        device=config.device,
        limit=config.limit,
        use_cache=cache,
        log_samples=True,
        apply_chat_template=config.apply_chat_template,
        gen_kwargs=gen_kwargs,
        task_manager=manager,
        evaluation_tracker=tracker,
        metadata=metadata,
    )
    if results is None:  # non-zero ranks in distributed runs
        return {}
    samples = results.pop("samples")
    tracker.save_results_aggregated(results=results, samples=samples)
    for name in results["configs"]:
        tracker.save_results_samples(task_name=name, samples=samples[name])
    return results
