"""Run the generation tasks for one teacher through lm-eval's Python API.

This is what ``lm_eval --tasks 'polyglot_*' --log_samples --output_path`` does, with
additions a long run needs: chunks recorded as they finish so an interrupted run resumes
where it stopped, and outputs in exactly the CLI's layout so :mod:`harness.collect` reads
both alike.

It also runs the paper's protocol (:mod:`harness.protocol`): the teacher's JSON pairs are
decoded under their schema where the backend offers it (the ``polyglot-*`` model types
of :mod:`harness.models.structured`), each task builds the protocol's number of
documents, and generation has no cap of its own, only the model's context. Settings off
the protocol are recorded as deviations in ``polyglot_run.json`` next to the results.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import protocol as protocols
from harness.autoload import STRUCTURED_BACKENDS, structured_type
from harness.errors import ConfigError
from harness.languages import parse_languages
from harness.naming import RUN_RECORD, slug
from harness.redact import scrub_lm_eval_output, scrub_model_args, scrub_value
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
    n_docs: int | None = field(
        default=None,
        metadata={
            "help": "documents built per task; None: the protocol's "
            f"{protocols.DOCUMENTS_PER_STRATEGY:,} per strategy"
        },
    )
    seeds: str | None = field(default=None, metadata={"help": "seed folder; None: bundled sample"})
    seed: int = field(default=1234, metadata={"help": "document sampling seed"})
    max_gen_toks: int | None = field(
        default=None,
        metadata={
            "help": "cap on new tokens; None: the protocol's, no cap of its own but the "
            f"serving context ({protocols.SERVING_CONTEXT:,}), lowered per request to what "
            "the model's context leaves after the prompt"
        },
    )
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
    protocol: str = field(
        default=protocols.DEFAULT,
        metadata={"help": "paper, corrected, paper+<correction>... (see docs/PROTOCOL.md)"},
    )
    temperature: float | None = field(
        default=None,
        metadata={"help": "sampling temperature; None: the protocol's 0.8 (another value is a "
                  "recorded deviation, e.g. a deliberately degraded teacher)"},
    )  # fmt: skip
    top_p: float | None = field(
        default=None, metadata={"help": "nucleus sampling top_p; None: the protocol's 0.9"}
    )
    structured_output: bool | None = field(
        default=None,
        metadata={
            "help": "decode generate/translate outputs under the pair's JSON schema; None: "
            f"on where the backend offers it ({', '.join(STRUCTURED_BACKENDS)})"
        },
    )

    def __post_init__(self) -> None:
        self.protocol = protocols.resolve(self.protocol).name
        if self.structured_output is not None and not isinstance(self.structured_output, bool):
            raise ConfigError(
                f"structured_output must be true, false or unset, got {self.structured_output!r}"
            )
        if self.structured_output and self.lm_eval_model() is None:
            raise ConfigError(
                f"structured output is not available for model type {self.model!r}; use one "
                f"of {', '.join(STRUCTURED_BACKENDS)}, or turn it off "
                "(structured_output: false, --no-structured-output)"
            )
        bad = [s for s in self.strategies if s not in STRATEGIES]
        if bad:
            raise ConfigError(f"unknown strategy {bad[0]!r}; use {', '.join(STRATEGIES)}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"limit must be >= 1, got {self.limit}")
        if self.chunk_size < 1:
            raise ConfigError(f"chunk_size must be >= 1, got {self.chunk_size}")
        if self.max_gen_toks is not None and self.max_gen_toks < 1:
            raise ConfigError(f"max_gen_toks must be >= 1, got {self.max_gen_toks}")
        for name in ("temperature", "top_p"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or value < 0 or (name == "top_p" and value > 1)):  # fmt: skip
                raise ConfigError(f"{name} must be a number >= 0 (top_p <= 1), got {value!r}")
        if self.n_docs is not None and self.n_docs < 1:
            raise ConfigError(f"n_docs must be >= 1, got {self.n_docs}")

    def lm_eval_model(self) -> str | None:
        """Our ``polyglot-*`` type wrapping :attr:`model`, or None where none exists."""
        return structured_type(self.model)

    @property
    def structured(self) -> bool:
        """Whether schema-guided decoding is on (``structured_output`` resolved)."""
        if self.structured_output is None:
            return self.lm_eval_model() is not None
        return self.structured_output

    @property
    def docs_per_task(self) -> int:
        return self.n_docs if self.n_docs is not None else protocols.DOCUMENTS_PER_STRATEGY

    @property
    def new_tokens(self) -> int:
        """The max_gen_toks every request asks for (backends may lower it per request)."""
        return self.max_gen_toks if self.max_gen_toks is not None else protocols.SERVING_CONTEXT

    def deviations(self) -> dict[str, Any]:
        """Settings this run chose that the protocol fixes otherwise."""
        found: dict[str, Any] = {}
        if self.limit is not None and self.limit < self.docs_per_task:
            found["limit"] = self.limit
        if self.docs_per_task != protocols.DOCUMENTS_PER_STRATEGY:
            found["n_docs"] = self.docs_per_task
        if self.new_tokens != protocols.SERVING_CONTEXT:
            found["max_gen_toks"] = self.new_tokens
        if not self.structured:
            found["structured_output"] = False
        for name, value in self.sampling().items():
            if value != protocols.GENERATION_SAMPLING[name]:
                found[name] = value
        return found

    def sampling(self) -> dict[str, float]:
        """The sampling settings every request gets: the protocol's unless overridden."""
        return {
            name: float(value if value is not None else protocols.GENERATION_SAMPLING[name])
            for name, value in (("temperature", self.temperature), ("top_p", self.top_p))
        }

    def protocol_record(self) -> dict[str, Any]:
        """What artefacts store: :meth:`harness.protocol.Protocol.record` with deviations."""
        return protocols.resolve(self.protocol).record(self.deviations())

    def tasks(self) -> list[str]:
        from harness.naming import generation_task as task_name

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
        "n_docs": config.docs_per_task,
        "max_gen_toks": config.new_tokens,
        "apply_chat_template": config.apply_chat_template,
        "chunk_size": config.chunk_size,
        "protocol": config.protocol,
        "structured_output": config.structured,
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


def _load_model(config: GenerationConfig) -> Any:
    """Build the lm-eval model: our ``polyglot-*`` type where one wraps the user's."""
    from lm_eval.api.registry import get_model

    from harness.autoload import register_models

    register_models()  # also with POLYGLOT_HARNESS_AUTOLOAD=0
    model_type = config.lm_eval_model()
    extra: dict[str, Any] = {"batch_size": config.batch_size, "device": config.device}
    if model_type is None:
        model_type = config.model
        logger.warning(
            "lm-eval model type %s has no schema-guided decoding here: generate/translate "
            "outputs run unguided (the paper's protocol guides them; recorded as a "
            "deviation), and max_gen_toks %d is not lowered to fit the model's context",
            config.model, config.new_tokens,
        )  # fmt: skip
    else:
        extra["structured_output"] = config.structured
    logger.info(
        "max_gen_toks %d%s; %s lowers it per request to what the model's context leaves "
        "after the prompt", config.new_tokens,
        "" if config.max_gen_toks else " (protocol: no cap of its own, only the serving context)",
        model_type,
    )  # fmt: skip
    return get_model(model_type).create_from_arg_string(config.model_args, extra)


def _write_run_record(folder: Path, config: GenerationConfig) -> None:
    """``polyglot_run.json``: how this teacher's outputs were made, and the protocol.

    ``role`` is ``teacher`` so that publish, which reads files of this name as student
    runs, passes it by. No secrets: model_args are scrubbed.
    """
    from harness import __version__
    from harness.files import atomic_write_text

    record = {
        "role": "teacher",
        "stage": "generate",
        "protocol": config.protocol_record(),
        "model": config.model,
        "lm_eval_model": config.lm_eval_model() or config.model,
        "model_args": scrub_model_args(config.model_args),
        "structured_output": config.structured,
        "languages": [lang.code for lang in parse_languages(config.languages)],
        "strategies": list(config.strategies),
        "n_docs": config.docs_per_task,
        "limit": config.limit,
        "max_gen_toks": config.new_tokens,
        "seeds": scrub_value(str(config.seeds)) if config.seeds else None,
        "seed": config.seed,
        "apply_chat_template": config.apply_chat_template,
        "harness_version": __version__,
    }
    text = json.dumps(record, indent=2, ensure_ascii=False) + "\n"
    atomic_write_text(folder / RUN_RECORD, text)


def run_generation(config: GenerationConfig, output_path: str | Path) -> dict[str, Any]:
    """Run the tasks and save lm-eval results and samples under ``output_path``.

    Work is done in chunks of ``config.chunk_size`` documents per task; each finished
    chunk is saved (results + samples, in the lm-eval CLI layout) and recorded, so a
    rerun after an interruption skips what is done. (lm-eval's own request cache does
    not store sampled generations, so it cannot resume this job.) The run record
    ``polyglot_run.json`` (protocol and deviations) is written beside the results.

    Returns:
        lm-eval's results dictionary of the last chunk run (without samples), or an
        empty dict when everything was already done.
    """
    from harness.generate.task_api import DOCS_CACHE

    try:
        return _run_chunks(config, Path(output_path))
    finally:
        # Each chunk reloads every task, so the documents are cached for the run (see
        # DocsCache); once it ends they would only hold memory for the rest of the process.
        DOCS_CACHE.clear()


def _run_chunks(config: GenerationConfig, output_path: Path) -> dict[str, Any]:
    """The body of :func:`run_generation`: load the tasks, then run the unfinished chunks."""
    from lm_eval import simple_evaluate
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    from harness.paths import tasks_path

    output_path.mkdir(parents=True, exist_ok=True)
    deviations = config.deviations()
    if deviations:
        logger.warning(
            "protocol %s with deviations: %s", config.protocol,
            ", ".join(f"{k}={v}" for k, v in sorted(deviations.items())),
        )  # fmt: skip
    metadata: dict[str, Any] = {
        "seed": config.seed,
        "n_docs": config.docs_per_task,
        "protocol": config.protocol,
    }
    if config.seeds:
        metadata["seeds"] = str(config.seeds)
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

    lm = _load_model(config)
    gen_kwargs = ",".join(
        [f"max_gen_toks={config.new_tokens}", *(f"{k}={v}" for k, v in config.sampling().items())]
    )
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
        folder = output_path / tracker.general_config_tracker.model_name_sanitized
        _write_run_record(folder, config)
        done.update(_chunk_key(t, idx) for t, idx in chunk.items())
        _save_progress(progress, fingerprint, done)
    return results
