"""Intrinsic data quality: metrics of a synthetic dataset that need no student.

Diversity (:func:`distinct_ri` over :func:`embed_texts`), fluency
(:func:`perplexities`; on any lm-eval backend :func:`score_perplexities_lm_eval`),
lengths, and the surface checks added to the paper's set: distinct-n, compression ratio,
duplicate rates and benchmark contamination. Each is an :class:`IntrinsicMetric`; one
more is one module (:mod:`harness.intrinsic.metric`).
"""

from harness.intrinsic.contamination import ContaminationResult, contamination
from harness.intrinsic.diversity import DiversityAccumulator, distinct_ri
from harness.intrinsic.duplicates import (
    exact_duplicate_rate,
    near_duplicate_groups,
    near_duplicate_rate,
    normalize_text,
)
from harness.intrinsic.embed import (
    DEFAULT_EMBEDDER,
    embed_texts,
    iter_npy_rows,
    load_embedder,
    resolve_embedder,
)
from harness.intrinsic.fluency import PerplexityResult, perplexities, score_perplexities
from harness.intrinsic.fluency_lm_eval import score_perplexities_lm_eval
from harness.intrinsic.judge import JudgeResult, judge_dataset, parse_judgement
from harness.intrinsic.lengths import mean_token_length, token_lengths
from harness.intrinsic.lexical import compression_ratio, distinct_n, unit_for_language
from harness.intrinsic.metric import IntrinsicMetric, MetricContext, available_metrics
from harness.intrinsic.run import compute_intrinsic

__all__ = [
    "DEFAULT_EMBEDDER",
    "ContaminationResult",
    "DiversityAccumulator",
    "IntrinsicMetric",
    "JudgeResult",
    "MetricContext",
    "PerplexityResult",
    "available_metrics",
    "compression_ratio",
    "compute_intrinsic",
    "contamination",
    "distinct_n",
    "distinct_ri",
    "embed_texts",
    "exact_duplicate_rate",
    "iter_npy_rows",
    "judge_dataset",
    "load_embedder",
    "mean_token_length",
    "near_duplicate_groups",
    "near_duplicate_rate",
    "normalize_text",
    "parse_judgement",
    "perplexities",
    "resolve_embedder",
    "score_perplexities",
    "score_perplexities_lm_eval",
    "token_lengths",
    "unit_for_language",
]
