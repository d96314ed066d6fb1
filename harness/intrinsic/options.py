"""What the intrinsic stage is asked to do (options), the rows it reads, and its shared models.

Every metric, built-in or plugin, gets its dataset as :class:`DatasetRows` and its models
through :class:`Resources` (loaded on first use, shared by every dataset of the run).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, EmptyDataError
from harness.intrinsic.builtin import METRICS
from harness.intrinsic.embed import DEFAULT_EMBEDDER
from harness.intrinsic.subsample import select_rows
from harness.protocol import DEFAULT as DEFAULT_PROTOCOL
from harness.protocol import INTRINSIC_SUBSAMPLE, resolve
from harness.schema import fingerprint_content, read_collected

FLUENCY_BACKENDS: tuple[str, ...] = ("auto", "lm-eval", "transformers")
TRANSFORMERS_MODEL = "hf"  # the lm-eval model type the transformers path computes like


@dataclass(frozen=True)
class IntrinsicOptions:
    """What to compute and with which models; every field is part of some cache key."""

    metrics: tuple[str, ...] = field(
        default=METRICS,
        metadata={
            "help": "metrics to compute; the default (all built-ins) also runs every "
            "installed plugin metric"
        },
    )
    extra_metrics: tuple[str, ...] = field(
        default=(),
        metadata={
            "help": "metric modules from outside the package, each computed too: a .py file "
            "or an importable module exposing METRIC = IntrinsicMetric(...)"
        },
    )
    embedder: str = field(
        default=DEFAULT_EMBEDDER,
        metadata={
            "help": "sentence-transformers embedder for diversity (paper: nvidia/llama-embed-nemotron-8b)"
        },
    )
    reference_lm: str | None = field(
        default=None, metadata={"help": "base LM for perplexity (paper: google/gemma-3-4b-pt)"}
    )
    fluency_backend: str = field(
        default="auto",
        metadata={
            "help": "how fluency runs the reference LM: transformers (required by the paper's "
            "batch-mean rule; length-bucketed, the faster on CPU per benchmarks/"
            "bench_perplexity.py), lm-eval (the polyglot_fluency task on any lm-eval backend, "
            "per-row rule only) or auto (lm-eval when fluency_model/fluency_model_args ask "
            "for what only lm-eval offers, else transformers)"
        },
    )
    fluency_model: str = field(
        default=TRANSFORMERS_MODEL,
        metadata={"help": "lm-eval model type of the reference LM on the lm-eval path (hf, vllm)"},
    )
    fluency_model_args: str = field(
        default="",
        metadata={
            "help": "extra lm-eval model_args of the reference LM on the lm-eval path, e.g. "
            "dtype=bfloat16,gpu_memory_utilization=0.8 (pretrained is --reference-lm)"
        },
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
        for name in ("metrics", "extra_metrics"):  # YAML and JSON give lists
            value = getattr(self, name)
            object.__setattr__(self, name, (value,) if isinstance(value, str) else tuple(value))
        if not self.metrics:
            raise ConfigError(f"no metric given: choose from {', '.join(METRICS)}")
        if self.extra_metrics or any(m not in METRICS for m in self.metrics):
            from harness.intrinsic.metric import available_metrics, unknown_metric

            known = available_metrics(self.extra_metrics)
            for metric in self.metrics:
                if metric not in known:
                    raise unknown_metric(metric, list(known))
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
        self._check_fluency()

    def _check_fluency(self) -> None:
        if self.fluency_backend not in FLUENCY_BACKENDS:
            close = difflib.get_close_matches(self.fluency_backend, FLUENCY_BACKENDS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(
                f"unknown fluency_backend {self.fluency_backend!r}{hint}: use "
                f"{', '.join(FLUENCY_BACKENDS)}"
            )
        if not self.fluency_model.strip():
            raise ConfigError("fluency_model is empty: give an lm-eval model type (hf, vllm)")
        if self.fluency_backend == "transformers" and self.fluency_lm_eval_spec():
            raise ConfigError(
                "fluency_model / fluency_model_args configure the lm-eval path, not "
                "fluency_backend=transformers: drop them, or use fluency_backend=lm-eval"
            )
        if resolve(self.protocol).corrects("per_row_fluency"):
            return
        if self.fluency_backend == "lm-eval" or self.fluency_lm_eval_spec():
            raise ConfigError(
                "the paper's batch-mean fluency depends on padding inside a batch, which no "
                "lm-eval loglikelihood request expresses: it runs on transformers only; drop "
                "fluency_backend=lm-eval / fluency_model / fluency_model_args, or use a "
                "protocol with per_row_fluency"
            )

    def fluency_lm_eval_spec(self) -> str | None:
        """``model:args`` where the lm-eval spec asks for more than plain ``hf`` (else None).

        Plain ``hf`` computes what the transformers path computes; another backend or a
        dtype may not, so only such a spec enters the fluency cache key.
        """
        if self.fluency_model == TRANSFORMERS_MODEL and not self.fluency_model_args.strip():
            return None
        return f"{self.fluency_model}:{self.fluency_model_args.strip()}"

    def fluency_path(self) -> str:
        """``"transformers"`` or ``"lm-eval"``: where fluency runs (``fluency_backend`` resolved).

        ``auto`` keeps the transformers path unless the spec needs lm-eval: the bucketed
        transformers path is faster on CPU (benchmarks/bench_perplexity.py), and the paper's
        rule needs it.
        """
        if self.fluency_backend == "auto":
            return "lm-eval" if self.fluency_lm_eval_spec() else "transformers"
        return self.fluency_backend

    def metric_names(self) -> tuple[str, ...]:
        """The metrics a run computes, in table order.

        ``metrics`` as given, then every ``extra_metrics`` module's metric; with the
        default ``metrics`` (all built-ins) also every installed plugin metric.
        """
        from harness.intrinsic.metric import available_metrics, load_metric

        names = list(self.metrics)
        if self.metrics == METRICS:
            names += [n for n in available_metrics(self.extra_metrics) if n not in names]
        names += [m.name for m in map(load_metric, self.extra_metrics) if m.name not in names]
        return tuple(names)

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

    def shared(self, name: str, load: Any) -> Any:
        """``load()`` the first time ``name`` is asked for; the same object afterwards."""
        if name not in self._cache:
            self._cache[name] = load()
        return self._cache[name]

    _get = shared  # the name this method had before plugins could call it

    def embedder(self) -> Any:
        from harness.intrinsic.embed import load_embedder

        return self.shared(
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

        return self.shared("reference", load)

    def reference_lm_eval(self) -> Any:
        """The reference LM as an lm-eval model, for the ``polyglot_fluency`` task."""

        def load() -> Any:
            from harness.intrinsic.fluency_lm_eval import load_reference_lm

            o = self.options
            return load_reference_lm(
                o.fluency_model, o.reference_lm or "", o.fluency_model_args,
                max_length=o.max_length, batch_size=o.fluency_batch_size, device=o.device,
            )  # fmt: skip

        return self.shared("reference_lm_eval", load)

    def length_tokenizer(self) -> Any:
        from harness.intrinsic.lengths import load_tokenizer

        name = self.options.tokenizer or self.options.reference_lm
        return self.shared("tokenizer", lambda: load_tokenizer(name))

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

        return self.shared("judge", load)
