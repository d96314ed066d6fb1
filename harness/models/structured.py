"""Schema-guided decoding of the teacher's JSON pairs, on lm-eval's own backends.

The paper's generate and translate outputs are a JSON object with ``prompt`` and
``response``, held to that shape by structured decoding where the serving backend offers
it (METHOD.md, "Protocol facts"); without it, a share of a small teacher's outputs are not
JSON at all and are lost as invalid. Those tasks' documents carry the schema under
:data:`~harness.protocol.SCHEMA_DOC_KEY`; respond documents do not, so their answers stay
free text in the same run.

Each class here is lm-eval's backend plus one hook, registered as ``polyglot-<type>``
(names in :data:`harness.autoload.STRUCTURED_BACKENDS`):

* ``polyglot-hf``: an xgrammar JSON-schema logits processor on ``model.generate``;
* ``polyglot-vllm``: vLLM's structured-outputs sampling parameter;
* ``polyglot-local-chat-completions`` / ``polyglot-openai-chat-completions``: the
  OpenAI ``response_format`` of type ``json_schema`` in the request.

The schema travels from the document into the request's generation kwargs (under a key
of ours, popped again before the backend sees it), so lm-eval's own grouping by
generation kwargs batches schema requests apart from plain ones. ``structured_output=False``
(a model arg) turns the guidance off and keeps the rest.

The local backends also bound each request's new tokens by what the model's context
window leaves after its prompt: the paper's generation had no cap of its own, only the
serving context, while lm-eval would instead cut the prompt's start to make room.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from typing import Any

import lm_eval.models  # noqa: F401  (first: lm-eval's own registry entries; see autoload)
from lm_eval.api.instance import Instance
from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM
from lm_eval.models.openai_completions import LocalChatCompletion, OpenAIChatCompletion
from lm_eval.models.utils import normalize_gen_kwargs

from harness.autoload import STRUCTURED_BACKENDS, structured_type
from harness.errors import ConfigError, MissingRequirementError
from harness.protocol import SCHEMA_DOC_KEY

logger = logging.getLogger(__name__)

SCHEMA_KWARG = "polyglot_json_schema"  # generation kwarg carrying the schema (JSON text)
RESPONSE_FORMAT_NAME = "pair"  # the name an OpenAI-style json_schema response format needs


def _type(base: str) -> str:
    name = structured_type(base)
    assert name is not None and base in STRUCTURED_BACKENDS  # our own table
    return name


def request_schema(doc: Any) -> dict[str, Any] | None:
    """The JSON schema a generation document asks for, or None (free-text answer).

    The value may arrive as a dict (how docs are built), as JSON text, or as None (a
    column the respond documents of a mixed dataset leave empty).

    Raises:
        ConfigError: the value is neither a JSON object nor JSON text of one.
    """
    value = doc.get(SCHEMA_DOC_KEY) if isinstance(doc, Mapping) else None
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ConfigError(f"document {SCHEMA_DOC_KEY!r} is not valid JSON: {exc}") from exc
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"document {SCHEMA_DOC_KEY!r} must be a JSON schema object, got {type(value).__name__}"
        )
    return dict(value)


def response_format(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The OpenAI chat-completions ``response_format`` that enforces ``schema``."""
    return {
        "type": "json_schema",
        "json_schema": {"name": RESPONSE_FORMAT_NAME, "schema": dict(schema), "strict": True},
    }


class _SchemaGuided:
    """Puts each document's schema into its request; bounds new tokens by the context.

    Mixed in before an lm-eval backend class; ``generate_until`` hands the backend
    copies of the requests (lm-eval logs the originals, so the samples keep the task's
    own generation kwargs).
    """

    structured_output: bool

    def __init__(self, *args: Any, structured_output: bool | str = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if isinstance(structured_output, str):
            structured_output = structured_output.strip().lower() not in {"0", "false", "no"}
        self.structured_output = bool(structured_output)

    def _context_room(self, context: Any) -> int | None:
        """New tokens the model's context leaves after ``context``; None: not bounded here."""
        return None

    def generate_until(self, requests: list[Instance], disable_tqdm: bool = False) -> list[str]:
        prepared = [self._prepare(r) for r in requests]
        bounded = [
            p.args[1]["max_gen_toks"]
            for p, r in zip(prepared, requests, strict=True)
            if p.args[1].get("max_gen_toks") != r.args[1].get("max_gen_toks")
        ]
        if bounded:
            logger.info(
                "%d of %d requests: max_gen_toks lowered to what the model's context of %s "
                "tokens leaves after the prompt (lowest %d)",
                len(bounded), len(requests), getattr(self, "max_length", "?"), min(bounded),
            )  # fmt: skip
        return super().generate_until(prepared, disable_tqdm=disable_tqdm)  # type: ignore[misc]

    def _prepare(self, request: Instance) -> Instance:
        context, gen_kwargs, *rest = request.args
        extra: dict[str, Any] = {}
        schema = request_schema(request.doc) if self.structured_output else None
        if schema is not None:
            extra[SCHEMA_KWARG] = json.dumps(
                schema, ensure_ascii=False
            )  # key order = the order decoded
        room = self._context_room(context)
        if room is not None:
            default = getattr(self, "max_gen_toks", 256)
            wanted = normalize_gen_kwargs(gen_kwargs, default_max_gen_toks=default)["max_gen_toks"]
            if wanted > room:
                extra["max_gen_toks"] = max(1, room)
        if not extra:
            return request
        return dataclasses.replace(request, arguments=(context, {**gen_kwargs, **extra}, *rest))


@register_model(_type("hf"))
class StructuredHFLM(_SchemaGuided, HFLM):
    """lm-eval's ``hf`` with xgrammar holding schema requests to their JSON schema."""

    def _context_room(self, context: Any) -> int | None:
        if self.backend != "causal":
            return None  # seq2seq: the prompt has the encoder to itself
        return self.max_length - len(self.tok_encode(context))

    def _model_generate(self, context: Any, max_length: int, stop: list[str], **kwargs: Any) -> Any:
        schema = kwargs.pop(SCHEMA_KWARG, None)
        if schema is not None:
            from transformers import LogitsProcessorList
            from xgrammar.contrib.hf import LogitsProcessor

            # One processor per generate() call: it keeps per-row matcher state.
            processors = list(kwargs.pop("logits_processor", None) or [])
            processors.append(LogitsProcessor(self._compiled_grammar(schema)))
            kwargs["logits_processor"] = LogitsProcessorList(processors)
        return super()._model_generate(context, max_length, stop, **kwargs)

    def _compiled_grammar(self, schema: str) -> Any:
        """The schema compiled for this tokenizer, once per schema."""
        import xgrammar as xgr

        cache: dict[str, Any] = self.__dict__.setdefault("_grammars", {})
        if schema not in cache:
            if "_grammar_compiler" not in self.__dict__:
                # The logits' width, which can exceed the tokenizer's vocabulary (padding).
                head = self.model.get_output_embeddings()
                width = head.weight.shape[0] if head is not None else None
                info = xgr.TokenizerInfo.from_huggingface(self.tokenizer, vocab_size=width)
                self._grammar_compiler = xgr.GrammarCompiler(info)
            # Compact JSON: free whitespace lets a small model spend its tokens on blanks.
            cache[schema] = self._grammar_compiler.compile_json_schema(schema, any_whitespace=False)
        return cache[schema]


class _SchemaInPayload(_SchemaGuided):
    """API backends: the schema becomes the request's ``response_format``."""

    def _create_payload(
        self, messages: Any, generate: bool = False, gen_kwargs: dict | None = None, **kwargs: Any
    ) -> dict:
        gen_kwargs = dict(gen_kwargs or {})
        schema = gen_kwargs.pop(SCHEMA_KWARG, None)
        payload = super()._create_payload(  # type: ignore[misc]
            messages, generate=generate, gen_kwargs=gen_kwargs, **kwargs
        )
        if schema is not None and generate:
            payload["response_format"] = response_format(json.loads(schema))
        return payload


@register_model(_type("local-chat-completions"))
class StructuredLocalChatCompletion(_SchemaInPayload, LocalChatCompletion):
    """lm-eval's ``local-chat-completions`` sending schema requests a ``response_format``."""


@register_model(_type("openai-chat-completions"))
class StructuredOpenAIChatCompletion(_SchemaInPayload, OpenAIChatCompletion):
    """lm-eval's ``openai-chat-completions`` sending schema requests a ``response_format``."""


def vllm_schema_params(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The ``SamplingParams`` keyword that makes vLLM follow ``schema``.

    vLLM >= 0.10.2 calls it ``structured_outputs``; older releases ``guided_decoding``.
    """
    try:
        from vllm.sampling_params import StructuredOutputsParams
    except ImportError:
        from vllm.sampling_params import GuidedDecodingParams

        return {"guided_decoding": GuidedDecodingParams(json=dict(schema))}
    return {"structured_outputs": StructuredOutputsParams(json=dict(schema))}


def _build_vllm_class() -> type:
    """``polyglot-vllm``, built on first use: importing vLLM costs seconds, or is impossible."""
    try:
        from lm_eval.models.vllm_causallms import VLLM
    except ImportError as exc:
        raise MissingRequirementError(
            f"{_type('vllm')} needs vLLM ({exc}); install it with `pip install vllm`, or "
            "run the teacher with hf"
        ) from exc

    @register_model(_type("vllm"))
    class StructuredVLLM(_SchemaGuided, VLLM):
        """lm-eval's ``vllm`` with schema requests decoded under vLLM's structured outputs."""

        def _context_room(self, context: Any) -> int | None:
            return self.max_length - len(self.tok_encode(context))

        @staticmethod
        def modify_gen_kwargs(
            gen_kwargs: dict[str, Any], eos: Any = None, default_max_gen_toks: int = 256
        ) -> tuple[dict[str, Any], list[str], int]:
            gen_kwargs = dict(gen_kwargs)
            schema = gen_kwargs.pop(SCHEMA_KWARG, None)
            kwargs, until, max_gen_toks = VLLM.modify_gen_kwargs(
                gen_kwargs, eos=eos, default_max_gen_toks=default_max_gen_toks
            )
            if schema is not None:
                kwargs.update(vllm_schema_params(json.loads(schema)))
            return kwargs, until, max_gen_toks

    StructuredVLLM.__qualname__ = "StructuredVLLM"
    return StructuredVLLM


def __getattr__(name: str) -> Any:
    # lm-eval's registry resolves "harness.models.structured:StructuredVLLM" by getattr.
    if name == "StructuredVLLM":
        cls = _build_vllm_class()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "RESPONSE_FORMAT_NAME",
    "SCHEMA_KWARG",
    "StructuredHFLM",
    "StructuredLocalChatCompletion",
    "StructuredOpenAIChatCompletion",
    "request_schema",
    "response_format",
    "vllm_schema_params",
]
