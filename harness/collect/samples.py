"""Read one run's lm-eval samples files and turn each sample into an SFT row.

Verdicts are recomputed here from the raw output under the chosen protocol, so a newer
parser improves old runs; a corrupt samples file fails by file:line, and samples that
would collide on their key (no seed id, a duplicated one) keep a row of their own.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.collect.results import RunFile
from harness.errors import ConfigError
from harness.files import read_jsonl
from harness.generate.validity import assess
from harness.naming import parse_generation_task, samples_file, samples_glob
from harness.protocol import PAPER, Protocol, resolve
from harness.schema import SFTRow, sft_row

logger = logging.getLogger(__name__)


def _samples_file(run: RunFile, task: str) -> Path | None:
    exact = run.results_path.with_name(samples_file(task, run.run_id))
    if exact.is_file():
        return exact
    candidates = sorted(run.results_path.parent.glob(samples_glob(task)))
    return candidates[-1] if candidates else None


def _raw_output(sample: dict[str, Any]) -> str:
    for key in ("filtered_resps", "resps"):
        value = sample.get(key)
        while isinstance(value, list) and value:
            value = value[0]
        if isinstance(value, str):
            return value
    return ""


def read_samples(path: Path, counts: Counter[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(file:line, sample)`` of one lm-eval samples file, every sample checked.

    Only a trailing line that is not JSON is skipped (counted in
    ``counts["partial_lines"]``): that is what a kill mid-write leaves, and the lines
    before it are whole. Anything else malformed is a corrupt file, and collecting
    around it would drop samples silently.

    Raises:
        ConfigError: a line is not UTF-8, not JSON (before the last line), or not a
            sample with a ``doc`` object and an integer ``doc_id``; named as file:line.
    """
    torn: list[str] = []
    for where, sample in read_jsonl(path, torn="last", skipped=torn):
        if not isinstance(sample.get("doc"), dict):
            raise ConfigError(
                f"{where}: not an lm-eval sample (expected a JSON object with a 'doc' object)"
            )
        try:
            sample["doc_id"] = int(sample.get("doc_id"))  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: not an lm-eval sample (no integer 'doc_id')") from exc
        yield where, sample
    counts["partial_lines"] += len(torn)


def _seed_id(doc: dict[str, Any], task: str, doc_id: int, counts: Counter[str]) -> str:
    """The doc's seed id, or a stable one from task and doc_id when it has none.

    Without it every such sample would share the key ``(strategy, "")`` and all but
    one would vanish in the merge.
    """
    seed = str(doc.get("seed_id") or "").strip()
    if seed:
        return seed
    counts["no_seed_id"] += 1
    return f"{task}-doc{doc_id}"


def iter_rows(
    run: RunFile,
    teacher: str | None = None,
    counts: Counter[str] | None = None,
    protocol: str | Protocol = PAPER,
) -> Iterator[SFTRow]:
    """Rows of one run, one per sample; a missing samples file is reported and skipped.

    Samples of one run that share a seed id (a seed file with duplicate ids) each keep
    a row, under ``<seed_id>~doc<doc_id>``, and are counted in ``counts``. ``protocol``
    decides which verdicts make a row invalid (:func:`harness.generate.validity.assess`).
    """
    counts = Counter() if counts is None else counts
    protocol = resolve(protocol)
    for task, config in run.configs.items():
        strategy, language = parse_generation_task(task)  # type: ignore[misc]
        path = _samples_file(run, task)
        if path is None:
            logger.warning(
                "%s: no samples file for %s (was --log_samples set?)", run.results_path, task
            )
            continue
        gen = dict(config.get("generation_kwargs") or {})
        seen: set[str] = set()
        for _, sample in read_samples(path, counts):
            counts["samples"] += 1
            doc, doc_id = sample["doc"], sample["doc_id"]
            seed = _seed_id(doc, task, doc_id, counts)
            if seed in seen:
                counts["duplicate_seed_ids"] += 1
                seed = f"{seed}~doc{doc_id}"
            seen.add(seed)
            raw = _raw_output(sample)
            source_prompt = str(doc.get("source_prompt") or "")
            verdict = assess(
                strategy, raw, language, source_prompt=source_prompt, protocol=protocol
            )
            yield sft_row(
                verdict.prompt,
                verdict.response,
                language=language,
                strategy=strategy,
                teacher=teacher or run.teacher,
                category=str(doc.get("category") or ""),
                seed_id=seed,
                valid=verdict.valid,
                invalid_reason=verdict.invalid_reason,
                detected_language=verdict.detected_language,
                correction_reason=verdict.correction_reason,
                raw_output=raw,
                task=task,
                doc_id=doc_id,
                temperature=gen.get("temperature"),
                top_p=gen.get("top_p"),
                max_gen_toks=gen.get("max_gen_toks"),
                generation_kwargs=json.dumps(gen, sort_keys=True, default=str),
                model_args=run.model_args,
                source_prompt=source_prompt,
                run_id=run.run_id,
            )
