"""One lm-eval call saved in lm-eval's CLI layout, with credentials kept off the disk.

lm-eval copies ``model_args`` verbatim into every results file and names the output
sub-folder after ``pretrained=``/``peft=``; API backends take keys and credentialed URLs
there. Both are scrubbed here, between ``simple_evaluate`` returning and the tracker
saving, so no file the evaluate stage writes (or ``publish`` later pushes) holds one.

The protocol reaches the tasks two ways: as lm-eval metadata, which our loaders read
(M-RewardBench's A/B positions and section rule), and as ``gen_kwargs`` for MGSM's
decoding, the one thing a loader cannot set. lm-eval applies ``gen_kwargs`` to every
``generate_until`` task of the call; MGSM is the only one in our suites (every other
benchmark scores log-likelihoods, which a test checks), so they reach MGSM alone.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.evaluate import mgsm
from harness.evaluate.benchmarks import BENCHMARKS, DATA_DIR_KEY, PROTOCOL_KEY
from harness.naming import parse_model_args
from harness.redact import redact_values as redact_values  # re-exported
from harness.redact import scrub_lm_eval_output
from harness.redact import secret_values as secret_values  # re-exported

if TYPE_CHECKING:
    from harness.evaluate.run import EvalConfig

logger = logging.getLogger(__name__)


@dataclass
class LmEvalRun:
    """Where one call's output went, and its samples (before lm-eval reshapes them)."""

    results_dir: Path
    results_file: Path
    samples: dict[str, list[dict[str, Any]]]
    n_requests: int


def run_lm_eval(
    config: EvalConfig, tasks: list[str], out: Path, results_name: str | None
) -> LmEvalRun | None:
    """Run ``tasks`` in one ``simple_evaluate`` call and save results and samples.

    Args:
        config: the model and run settings.
        tasks: leaf task names.
        out: the model's folder; lm-eval writes into ``out/<results_name>``.
        results_name: the sub-folder earlier runs used, so a rerun adds to it and
            ``score`` never sees two folders (two scores) of one model; ``None`` the
            first time, when it is lm-eval's own sanitized model name.

    Returns:
        The saved run; ``None`` on a non-main process of a distributed run.

    Raises:
        OSError: lm-eval could not write the results (it only logs a warning).
    """
    from lm_eval import simple_evaluate
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    from harness.paths import tasks_path

    data_dir = config.fingerprint()["data_dir"]
    metadata: dict[str, Any] = {PROTOCOL_KEY: config.protocol}
    if data_dir:
        metadata[DATA_DIR_KEY] = data_dir
    manager = TaskManager(
        include_path=str(tasks_path()),
        include_defaults=False,  # every suite task is ours; indexing lm-eval's takes ~15 s
        metadata=metadata,
    )
    tracker = EvaluationTracker(output_path=str(out))
    results = simple_evaluate(
        model=config.model,
        model_args=config.model_args,
        tasks=tasks,
        batch_size=config.batch_size,
        device=config.device,
        limit=config.limit,
        apply_chat_template=config.apply_chat_template,
        gen_kwargs=generation_kwargs(config, tasks),
        task_manager=manager,
        log_samples=True,
        evaluation_tracker=tracker,
    )
    if results is None:
        return None
    results, samples = scrub_lm_eval_output(
        results,
        results.pop("samples"),
        tracker,
        config.model_args,
        fallback_name=config.model,
        results_name=results_name,
    )
    general = tracker.general_config_tracker
    n_requests = sum(len(s["arguments"]) for t in tasks for s in samples.get(t, []))
    kept = {t: [dict(s) for s in samples.get(t, [])] for t in tasks}  # the tracker edits them
    tracker.save_results_aggregated(results=results, samples=samples)
    for task in tasks:
        tracker.save_results_samples(task_name=task, samples=samples.get(task, []))
    results_dir = out / general.model_name_sanitized
    results_file = results_dir / f"results_{getattr(tracker, 'date_id', None)}.json"
    if not results_file.is_file():
        raise OSError(f"lm-eval could not save results to {results_file}; see its log above")
    return LmEvalRun(results_dir, results_file, kept, n_requests)


def generation_kwargs(config: EvalConfig, tasks: list[str]) -> dict[str, Any] | str | None:
    """What ``simple_evaluate`` gets as ``gen_kwargs``: the protocol's MGSM decoding, with
    the run's own ``gen_kwargs`` over it; the run's own alone when no MGSM task runs."""
    mgsm_tasks = {BENCHMARKS["mgsm"].task_name(code) for code in config.languages}
    if not mgsm_tasks.intersection(tasks):
        return config.gen_kwargs
    from lm_eval.utils import simple_parse_args_string

    own = simple_parse_args_string(config.gen_kwargs) if config.gen_kwargs else {}
    return {**mgsm.generation_kwargs(config.protocol), **own}


def count_tokens(
    samples: dict[str, list[dict[str, Any]]], model_args: Any
) -> tuple[int | None, int | None]:
    """(prompt, generated) tokens of logged samples, by the model's tokenizer if it is local.

    Prompt tokens are every string a request sends (contexts and scored continuations);
    generated tokens are the outputs of generation requests. ``(None, None)`` when the
    tokenizer is not a local folder: fetching one just to count is not worth it.
    """
    args = parse_model_args(model_args)
    source = args.get("tokenizer") or args.get("pretrained")
    if not source or not Path(source).expanduser().is_dir():
        return None, None
    try:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as exc:
        logger.debug("no tokenizer at %s to count tokens: %s", source, exc)
        return None, None
    prompts: Counter[str] = Counter()
    generated: Counter[str] = Counter()
    for task_samples in samples.values():
        for sample in task_samples:
            for request, responses in zip(sample["arguments"], sample["resps"], strict=False):
                prompts.update(a for a in request if isinstance(a, str))
                if any(isinstance(a, dict) for a in request):  # generate_until: (ctx, kwargs)
                    generated.update(r for r in responses if isinstance(r, str))
    return _n_tokens(tokenizer, prompts), _n_tokens(tokenizer, generated)


def _n_tokens(tokenizer: Any, texts: Counter[str]) -> int:
    """Tokens of all texts, encoding each distinct text once (choices share contexts)."""
    if not texts:
        return 0
    ids = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    return sum(len(i) * n for i, n in zip(ids, texts.values(), strict=True))
