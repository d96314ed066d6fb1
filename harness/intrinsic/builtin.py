"""The built-in intrinsic metrics, each an :class:`~harness.intrinsic.metric.IntrinsicMetric`.

Each entry says what the metric computes from one dataset and which options change its
value (its cache parameters): anything left out of ``params`` would serve a stale cache.
Every metric but validity is measured on the protocol's balanced subsample of the valid
rows (:mod:`harness.intrinsic.subsample`); validity and the language-match rate describe
the collection, so they count every row. Heavy imports sit inside the functions: the CLI
imports this module to list the metric names.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import ConfigError, EmptyDataError
from harness.intrinsic.metric import IntrinsicMetric, MetricContext, MetricResult
from harness.protocol import Protocol

if TYPE_CHECKING:
    from harness.intrinsic.options import DatasetRows, IntrinsicOptions

JUDGE_CHUNK_ROWS = 64  # rows judged per lm-eval call: the most a kill can cost


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def _texts(data: DatasetRows) -> list[str]:
    return [f"{p}\n\n{r}" for p, r in zip(data.prompts, data.responses, strict=True)]


# --- validity ---------------------------------------------------------------------------


def _validity(data: DatasetRows, ctx: MetricContext) -> MetricResult:
    matched = sum(d == data.language for d in data.detected)
    return {
        "valid_rate": sum(data.valid) / data.n_rows,
        "language_match_rate": matched / data.n_rows,
    }, None


# --- lengths ----------------------------------------------------------------------------


def _lengths(data: DatasetRows, ctx: MetricContext) -> MetricResult:
    from harness.intrinsic.lengths import token_lengths

    tok = ctx.resources.length_tokenizer()
    p = token_lengths(data.prompts, tok).tolist()
    r = token_lengths(data.responses, tok).tolist()
    values = {"prompt_length": _mean(p), "response_length": _mean(r)}
    return values, {"row_index": data.index, "prompt_length": p, "response_length": r}


def _length_tokenizer(o: IntrinsicOptions) -> str | None:
    return o.tokenizer or o.reference_lm


def _lengths_requires(o: IntrinsicOptions) -> str | None:
    if _length_tokenizer(o):
        return None
    return "needs --tokenizer or --reference-lm (paper: allenai/Olmo-3-1025-7B's tokenizer)"


def _lengths_check(o: IntrinsicOptions) -> None:
    from harness.models.preflight import check_model

    if _length_tokenizer(o):
        flag = "--tokenizer" if o.tokenizer else "--reference-lm"
        check_model(_length_tokenizer(o) or "", role="length tokenizer", flag=flag)


# --- diversity, lexical, duplicates -----------------------------------------------------


def _diversity(data: DatasetRows, ctx: MetricContext) -> MetricResult:
    from harness.intrinsic.diversity import distinct_ri
    from harness.intrinsic.embed import embed_texts

    values = {}
    for name, texts in (("prompt_diversity", data.prompts), ("response_diversity", data.responses)):
        try:
            values[name] = distinct_ri(
                embed_texts(texts, ctx.resources.embedder(), ctx.options.embed_batch_size)
            )
        except EmptyDataError:
            values[name] = math.nan  # fewer than two valid rows: no pair to compare
    return values, None


def _lexical(data: DatasetRows, ctx: MetricContext) -> MetricResult:
    from harness.intrinsic.lexical import compression_ratio, distinct_n

    values: dict[str, Any] = {}
    for name, texts in (("prompt", data.prompts), ("response", data.responses)):
        if not any(texts):
            continue
        for n, ratio in distinct_n(texts, language=data.language).items():
            values[f"{name}_distinct_{n}"] = ratio
        values[f"{name}_compression_ratio"] = compression_ratio(texts)
    return values, None


def _duplicates(data: DatasetRows, ctx: MetricContext) -> MetricResult:
    from harness.intrinsic.duplicates import exact_duplicate_rate, near_duplicate_rate

    if not data.index:
        return {"duplicate_rate": math.nan, "near_duplicate_rate": math.nan}, None
    pairs = _texts(data)
    return {
        "duplicate_rate": exact_duplicate_rate(pairs),
        "prompt_duplicate_rate": exact_duplicate_rate(data.prompts),
        "near_duplicate_rate": near_duplicate_rate(pairs),
    }, None


# --- fluency ----------------------------------------------------------------------------


def _fluency(data: DatasetRows, ctx: MetricContext) -> MetricResult:
    o = ctx.options
    if o.fluency_path() == "lm-eval":
        from harness.intrinsic.fluency_lm_eval import score_perplexities_lm_eval

        cache = None
        if ctx.resume:  # lm-eval's request cache: a killed run resumes row by row
            partial, key = ctx.resume
            cache = partial.parent / f".fluency.partial-{key}"
        result = score_perplexities_lm_eval(
            ctx.resources.reference_lm_eval(), data.prompts, data.responses, cache=cache
        )
    else:
        from harness.intrinsic.fluency import score_perplexities

        model, tok = ctx.resources.reference()
        result = score_perplexities(
            model, tok, data.prompts, data.responses, o.fluency_batch_size, o.max_length,
            progress=False, protocol=o.protocol,
        )  # fmt: skip
    values = {
        "perplexity": result.mean,
        "perplexity_nan": result.n_nan,
        "perplexity_truncated": result.n_truncated,
    }
    return values, {"row_index": data.index, "perplexity": result.values}


def _fluency_params(o: IntrinsicOptions, language: str) -> dict[str, Any]:
    """The reference LM and context; the batching only where a row's value is its batch's.

    The backend is no key: the lm-eval path and the transformers path give the same
    per-row values for the same model. Only an lm-eval spec beyond plain ``hf`` (another
    backend, a dtype) can change them, so only that spec is keyed.
    """
    params: dict[str, Any] = {"reference_lm": o.reference_lm, "max_length": o.max_length}
    if not _per_row(o.protocol):
        params["batch_size"] = o.fluency_batch_size
    elif o.fluency_lm_eval_spec():
        params["lm_eval_model"] = o.fluency_lm_eval_spec()
    return params


def _per_row(protocol: str | Protocol) -> bool:
    from harness.protocol import resolve

    return resolve(protocol).corrects("per_row_fluency")


def _fluency_check(o: IntrinsicOptions) -> None:
    from harness.models.preflight import check_lm_eval_model, check_model

    if not o.reference_lm:
        return
    if o.fluency_path() == "transformers":
        check_model(o.reference_lm, role="reference LM", flag="--reference-lm")
    else:
        check_lm_eval_model(
            o.fluency_model, f"pretrained={o.reference_lm}", role="reference LM",
            flag="--fluency-model",
        )  # fmt: skip


# --- judge ------------------------------------------------------------------------------


def _judge(data: DatasetRows, ctx: MetricContext) -> MetricResult:
    from harness.intrinsic.judge import counted_score, judge_dataset, summarize_judgements

    o, resume = ctx.options, ctx.resume
    results = []
    if data.index:
        results = judge_dataset(
            data.path,
            ctx.resources.judge,  # loaded only if some row is neither resumed nor reused
            batch_size=o.batch_size,
            rows=data.index,
            gen_kwargs={"max_gen_toks": o.judge_max_gen_toks} if o.judge_max_gen_toks else None,
            apply_chat_template=o.judge_chat_template,
            protocol=o.protocol,
            progress_file=resume[0] if resume else None,
            progress_key=resume[1] if resume else "",
            chunk_size=JUDGE_CHUNK_ROWS,
            reuse=ctx.reuse,
        )
    rows = {
        "row_index": [r.row_index for r in results],
        "rubric_score": [counted_score(r.score, o.protocol) for r in results],
        "rubric_parsed": [r.parsed for r in results],
        "rubric_feedback": [r.feedback for r in results],
        "judge_raw_output": [r.raw_output for r in results],
    }
    return dict(summarize_judgements(results, o.protocol)), rows


def _judge_params(o: IntrinsicOptions, language: str) -> dict[str, Any]:
    from harness.intrinsic.judge import JUDGE_MAX_GEN_TOKS
    from harness.intrinsic.rubrics import prompt_fingerprint

    return {
        "judge": o.judge,
        "max_gen_toks": o.judge_max_gen_toks or JUDGE_MAX_GEN_TOKS,
        "chat_template": o.judge_chat_template,
        "structured": o.judge_structured,
        "prompt": prompt_fingerprint(language),
    }


def _judge_protocol(rule: Protocol) -> dict[str, Any]:
    excluded = rule.corrects("exclude_unparseable_judgements")
    return {"unparseable": "excluded" if excluded else "scored_1"}


def _judge_check(o: IntrinsicOptions) -> None:
    from harness.intrinsic.judge import parse_model_spec
    from harness.models.preflight import check_lm_eval_model

    if o.judge:
        model, args = parse_model_spec(o.judge)
        check_lm_eval_model(model, args, role="judge", flag="--judge")


def _judge_deviations(o: IntrinsicOptions) -> dict[str, Any]:
    from harness.intrinsic.judge import JUDGE_MAX_GEN_TOKS

    found: dict[str, Any] = {}
    if o.judge_chat_template:
        found["judge_chat_template"] = True
    if o.judge and not o.judge_structured:
        found["judge_structured_output"] = False
    if o.judge_max_gen_toks not in (None, JUDGE_MAX_GEN_TOKS):
        found["judge_max_gen_toks"] = o.judge_max_gen_toks
    return found


# --- contamination ----------------------------------------------------------------------


def benchmark_files(benchmarks_dir: str, language: str) -> list[Path]:
    """The JSONL files of every benchmark config in ``language`` (evaluate stage's layout)."""
    from harness.evaluate.benchmarks import BENCHMARKS
    from harness.languages import get_language

    lang = get_language(language)
    files: list[Path] = []
    for bench in BENCHMARKS.values():
        try:
            config = bench.config_for(lang)
        except ConfigError:
            continue
        files.extend(sorted((Path(benchmarks_dir) / bench.name / config).glob("*.jsonl")))
    return files


def _contamination(data: DatasetRows, ctx: MetricContext) -> MetricResult:
    from harness.intrinsic.contamination import contamination

    items = []
    for file in benchmark_files(ctx.options.benchmarks_dir or "", data.language):
        for line in file.read_text(encoding="utf-8").splitlines():
            if line.strip():
                obj = json.loads(line)
                items.append("\n".join(v for v in obj.values() if isinstance(v, str)))
    if not items or not data.index:
        return {"contamination_rate": math.nan, "contamination_items": len(items)}, None
    result = contamination(_texts(data), items, language=data.language)
    return {
        "contamination_rate": result.fraction,
        "contamination_rows": result.n_contaminated,
        "contamination_items": result.n_items,
        "contamination_items_matched": result.n_matched_items,
    }, None


def _contamination_params(o: IntrinsicOptions, language: str) -> dict[str, Any]:
    from harness.intrinsic.options import fingerprint_file

    if not o.benchmarks_dir:
        return {}
    return {
        "benchmarks": [fingerprint_file(p) for p in benchmark_files(o.benchmarks_dir, language)]
    }


def _needs(field: str, message: str) -> Any:
    return lambda o: None if getattr(o, field) else message


BUILTIN_METRICS: tuple[IntrinsicMetric, ...] = (
    IntrinsicMetric(
        "validity", _validity, summary_fields=("valid_rate", "language_match_rate"),
        every_row=True,
    ),
    IntrinsicMetric(
        "lengths", _lengths, summary_fields=("prompt_length", "response_length"),
        row_fields=("prompt_length", "response_length"),
        params=lambda o, lang: {"tokenizer": _length_tokenizer(o)},
        requires=_lengths_requires, check=_lengths_check,
    ),
    IntrinsicMetric(
        "diversity", _diversity, summary_fields=("prompt_diversity", "response_diversity"),
        params=lambda o, lang: {"embedder": o.embedder},
    ),
    IntrinsicMetric("lexical", _lexical),
    IntrinsicMetric(
        "duplicates", _duplicates, summary_fields=("duplicate_rate", "near_duplicate_rate"),
    ),
    IntrinsicMetric(
        "fluency", _fluency, summary_fields=("perplexity",), row_fields=("perplexity",),
        params=_fluency_params,
        protocol_params=lambda rule: {"per_row": rule.corrects("per_row_fluency")},
        requires=_needs("reference_lm", "needs --reference-lm (paper: google/gemma-3-4b-pt)"),
        check=_fluency_check,
    ),
    IntrinsicMetric(
        "judge", _judge, summary_fields=("rubric_score", "judge_parse_rate"),
        row_fields=("rubric_score", "rubric_parsed", "rubric_feedback"),
        params=_judge_params, protocol_params=_judge_protocol,
        requires=_needs("judge", "needs --judge (paper: hf:pretrained=Unbabel/M-Prometheus-14B)"),
        check=_judge_check, deviations=_judge_deviations,
    ),
    IntrinsicMetric(
        "contamination", _contamination, summary_fields=("contamination_rate",),
        params=_contamination_params,
        requires=_needs("benchmarks_dir", "needs --benchmarks-dir (<dir>/<benchmark>/<config>/*.jsonl)"),
    ),
)  # fmt: skip
METRICS: tuple[str, ...] = tuple(m.name for m in BUILTIN_METRICS)
