"""Rubric judge: an LLM grades each (prompt, response) pair 1-5 through lm-eval.

Judging runs as the ``polyglot_judge`` lm-eval task over a collected dataset, so any
lm-eval backend (``hf``, ``vllm``, API models) can be the judge with no code of ours per
backend. As the paper ran it (METHOD.md, "Protocol facts"), shared by both protocols:
the prompt goes raw (no chat template, no system prompt; chat-only API backends get it
as the one user message), the judge samples with the model's own settings, up to
:data:`JUDGE_MAX_GEN_TOKS` new tokens, and each document carries
:data:`harness.protocol.SCHEMA_DOC_KEY` so that backends with schema-guided decoding
hold the output to :data:`~harness.intrinsic.rubrics.JUDGE_SCHEMA` (score first).

The parser is deliberately strict: a judgement is either one JSON object with an
integer score 1-5, or text ending in exactly one ``[RESULT] n`` / ``Score: n``. Anything
else, say a score of 4.5, two results, a trailing remark, or Arabic-Indic digits, is
unparseable, because picking "the most likely number" out of a rambling judgement would
put the parser's opinion into the metric. What an unparseable judgement counts as is the
protocol's: the paper scores it 1 (the lowest score) and keeps it in the mean; the
``exclude_unparseable_judgements`` correction counts it and leaves it out of the mean.
Either way the parse rate is reported beside the mean.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.files import append_jsonl, data_file, read_records
from harness.intrinsic.rubrics import JUDGE_SCHEMA, MAX_SCORE, MIN_SCORE
from harness.protocol import SCHEMA_DOC_KEY, Protocol, resolve
from harness.schema import read_collected

logger = logging.getLogger(__name__)

TASK_NAME = "polyglot_judge"
# The paper's judge may write up to a few thousand tokens (METHOD.md, "Protocol facts");
# the task YAML's max_gen_toks holds the same number (a test keeps them equal).
JUDGE_MAX_GEN_TOKS = 2048
UNPARSEABLE_SCORE = MIN_SCORE  # what the paper counts an unparseable judgement as
# lm-eval backends that only take chat messages: the raw prompt goes as one user turn.
_CHAT_ONLY_BACKENDS = ("LocalChatCompletion", "AnthropicChat")

# The whole output is one JSON object, optionally inside a single ``` / ```json fence.
_FENCE = re.compile(r"^```[A-Za-z]*[ \t]*\n(?P<body>.*)\n[ \t]*```$", re.DOTALL)
# Any score marker anywhere; more than one makes the judgement ambiguous.
_MARKER = re.compile(r"\[RESULT\]|\bscore\s*:", re.IGNORECASE)
# The one marker, at the very end: ASCII integer 1-5, optional closing period.
_FINAL = re.compile(r"(?:\[RESULT\]|\bscore\s*:)\s*:?\s*(?P<score>[0-9]+)\s*\.?\s*$", re.IGNORECASE)
_FEEDBACK_PREFIX = re.compile(r"^\s*(?:###\s*)?feedback\s*:\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Judgement:
    """One parsed judge output; ``score`` is None when the output is unparseable."""

    score: int | None
    feedback: str | None

    @property
    def parsed(self) -> bool:
        return self.score is not None


@dataclass(frozen=True)
class JudgeResult:
    """A judgement mapped back to its dataset row (``row_index`` = position in the file)."""

    row_index: int
    seed_id: str
    language: str
    score: int | None
    feedback: str | None
    raw_output: str

    @property
    def parsed(self) -> bool:
        return self.score is not None


def _valid_score(value: Any) -> int | None:
    # bool is an int subclass; 4.0 is a float: both are rejected as not-an-integer.
    if type(value) is int and MIN_SCORE <= value <= MAX_SCORE:
        return value
    return None


def _parse_json(text: str) -> Judgement | None:
    """A judgement if ``text`` is exactly one JSON object (fences allowed), else None."""
    fenced = _FENCE.match(text)
    body = fenced.group("body").strip() if fenced else text
    if not body.startswith("{"):
        return None
    try:
        obj = json.loads(body)
    except json.JSONDecodeError:
        return Judgement(None, None)  # looks like JSON, is not: unparseable, no fallback
    if not isinstance(obj, dict):
        return Judgement(None, None)
    feedback = obj.get("feedback")
    feedback = feedback.strip() if isinstance(feedback, str) else None
    return Judgement(_valid_score(obj.get("score")), feedback)


def parse_judgement(text: str | None) -> Judgement:
    """Parse a judge's output strictly; never guesses a score.

    Accepted:
      * a JSON object (alone, or alone in a Markdown code fence) whose ``"score"`` is an
        integer 1-5 (``4.0``, ``"4"`` and ``true`` are not); ``"feedback"`` optional;
      * text whose only score marker is a final ``[RESULT] n`` or ``Score: n`` with n an
        ASCII integer 1-5, optionally followed by a period; the text before it (minus a
        leading ``Feedback:``) is the feedback.

    Everything else (empty output, scores outside 1-5, decimals, two markers, text after
    the score, JSON with trailing prose) returns ``Judgement(None, ...)``.
    """
    text = (text or "").strip()
    if not text:
        return Judgement(None, None)
    as_json = _parse_json(text)
    if as_json is not None:
        return as_json
    if len(_MARKER.findall(text)) != 1:
        return Judgement(None, None)
    final = _FINAL.search(text)
    if final is None:
        return Judgement(None, None)
    feedback = _FEEDBACK_PREFIX.sub("", text[: final.start()]).strip() or None
    return Judgement(_valid_score(int(final.group("score"))), feedback)


def excludes_unparseable(protocol: str | Protocol | None = None) -> bool:
    """Whether ``protocol`` leaves unparseable judgements out of the mean (else: score 1)."""
    return resolve(protocol).corrects("exclude_unparseable_judgements")


def counted_score(score: int | None, protocol: str | Protocol | None = None) -> int | None:
    """The score a judgement counts with: its own, or for an unparseable one (``None``)
    :data:`UNPARSEABLE_SCORE` under the paper's rule and ``None`` under the correction.
    """
    if score is not None or excludes_unparseable(protocol):
        return score
    return UNPARSEABLE_SCORE


def summarize_judgements(
    results: Sequence[JudgeResult], protocol: str | Protocol | None = None
) -> dict[str, float | int]:
    """Dataset-level numbers: the mean score under ``protocol``'s rule and the parse rate.

    Under the paper's rule an unparseable judgement counts as a 1, which pulls the mean
    down by how often the judge breaks format; under ``exclude_unparseable_judgements``
    it is left out, so the mean is over parsed judgements only. Either way the parse
    rate belongs next to the mean: a judge that parses 10% of the time has an
    unreliable mean under both rules.
    """
    rule = resolve(protocol)
    counted = [counted_score(r.score, rule) for r in results]
    scores = [s for s in counted if s is not None]
    n = len(results)
    n_parsed = sum(r.score is not None for r in results)
    return {
        "rubric_score": sum(scores) / len(scores) if scores else math.nan,
        "judge_parse_rate": n_parsed / n if n else math.nan,
        "n_judged": n,
        "n_unparseable": n - n_parsed,
    }


def load_judge_docs(
    data_path: str | Path,
    *,
    include_invalid: bool = False,
    protocol: str | Protocol | None = None,
) -> list[dict]:
    """The judge task's documents: one per (valid) row, carrying its row position.

    Invalid rows are skipped by default because intrinsic metrics are computed on valid
    rows only and judging an empty or wrong-language response costs judge time for a
    known answer. Each document also carries the judgement schema under
    :data:`~harness.protocol.SCHEMA_DOC_KEY` (for schema-guided backends) and the
    protocol's name (for the task's own metric, which scores unparseable rows by it).

    Raises:
        InputNotFoundError: no dataset there.
        SchemaError: the file breaks the collected schema (e.g. nulls in ``valid``).
    """
    path = data_file(data_path)
    name = resolve(protocol).name
    columns = ["prompt", "response", "language", "seed_id", "valid"]
    table = read_collected(path, columns).to_pydict()
    docs = []
    for i in range(len(table["prompt"])):
        if not include_invalid and not table["valid"][i]:
            continue
        docs.append(
            {
                "row_index": i,
                "seed_id": table["seed_id"][i] or "",
                "language": table["language"][i],
                "prompt": table["prompt"][i] or "",
                "response": table["response"][i] or "",
                "protocol": name,
                SCHEMA_DOC_KEY: copy.deepcopy(JUDGE_SCHEMA),  # one each: docs are edited
            }
        )
    return docs


_MODEL_TYPE = re.compile(r"^[A-Za-z][\w.-]*$")


def parse_model_spec(spec: str) -> tuple[str, str]:
    """Split ``"hf:pretrained=x,dtype=float32"`` into lm-eval's ``(model, model_args)``.

    ``"vllm:pretrained=x"`` picks another backend; a bare model id or path (no ``=``)
    means ``hf`` with ``pretrained=<it>``; bare ``key=value`` args mean ``hf``.

    Raises:
        ConfigError: the spec is empty.
    """
    spec = spec.strip()
    if not spec:
        raise ConfigError("empty judge spec: use e.g. 'hf:pretrained=Unbabel/M-Prometheus-14B'")
    head, sep, rest = spec.partition(":")
    if sep and _MODEL_TYPE.match(head) and "=" not in head:
        model, args = head, rest
    else:
        model, args = "hf", spec
    if args and "=" not in args:
        args = f"pretrained={args}"
    return model, args


def judge_dataset(
    data_path: str | Path,
    model: str | Any,
    model_args: str = "",
    *,
    batch_size: int | str = 1,
    limit: int | None = None,
    rows: Sequence[int] | None = None,
    gen_kwargs: dict[str, Any] | None = None,
    apply_chat_template: bool = False,
    include_invalid: bool = False,
    system_instruction: str | None = None,
    device: str | None = None,
    protocol: str | Protocol | None = None,
    progress_file: str | Path | None = None,
    progress_key: str = "",
    chunk_size: int = 64,
    reuse: Mapping[int, str] | None = None,
) -> list[JudgeResult]:
    """Judge the valid rows of one collected dataset with any lm-eval backend.

    Runs lm-eval's ``simple_evaluate`` on the ``polyglot_judge`` task (the task reads the
    dataset from ``metadata["judge_data"]``) with samples logged, then parses each
    sample's generation and maps it back to its row by the ``row_index`` the doc carries.

    With ``progress_file``, rows are judged ``chunk_size`` at a time and each finished
    chunk's outputs are appended to that file, so a run killed after hours resumes with
    the rows not yet judged (per chunk, for every backend; lm-eval's request cache would
    only help backends that report each batch).

    Args:
        data_path: A ``data.parquet`` or the folder holding it.
        model: lm-eval model name (``"hf"``, ``"vllm"``, ...), an ``LM`` instance, or a
            function returning one, called only if some row still needs judging. The
            schema reaches the decoder on our ``polyglot-*`` types (``polyglot-hf``...),
            which the intrinsic stage picks for the judge where one exists.
        model_args: lm-eval model args, e.g. ``"pretrained=Unbabel/M-Prometheus-14B"``.
        batch_size: lm-eval batch size (``"auto"`` allowed).
        limit: Judge only the first ``limit`` documents.
        rows: Judge only the rows at these positions of the file (the intrinsic
            subsample); ``None``: every (valid) row.
        gen_kwargs: Overrides of the protocol's sampling, e.g. ``{"max_gen_toks": 512}``.
        apply_chat_template: Wrap the prompt in the judge's chat template with a judge
            system prompt (not the protocol's, which sends the prompt raw). Chat-only API
            backends always get the prompt as one user message, without a system prompt
            unless this is set.
        include_invalid: Also judge rows marked invalid at collection.
        system_instruction: System prompt with the chat template; defaults to
            Prometheus's judge persona when ``apply_chat_template`` is set.
        device: lm-eval's device (``"cpu"``, ``"cuda:0"``); the backend's default if None.
        protocol: Protocol whose rule the task's own ``judge_score`` metric follows.
        progress_file: JSONL of finished judgements to resume from and append to.
        progress_key: What the judgements depend on (judge, rubric, data, settings);
            records written under another key are discarded, never reused.
        chunk_size: Rows judged (and saved) per lm-eval call when resuming is on.
        reuse: Raw outputs of rows already judged under the same settings, by row
            position (a cache computed under another protocol's rule): not judged again.

    Returns:
        One :class:`JudgeResult` per judged row, in row order.
    """
    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be >= 1, got {chunk_size}")
    path = data_file(data_path)
    name = resolve(protocol).name
    task_docs = load_judge_docs(path, include_invalid=include_invalid, protocol=name)
    docs = task_docs
    if rows is not None:
        wanted_rows = set(rows)
        docs = [doc for doc in docs if doc["row_index"] in wanted_rows]
    docs = docs if limit is None else docs[:limit]
    if not docs:
        logger.warning("%s has no rows to judge", path)
        return []
    done = _load_progress(Path(progress_file), progress_key) if progress_file else {}
    for doc in docs:
        if reuse and doc["row_index"] in reuse and doc["row_index"] not in done:
            done[doc["row_index"]] = _result(doc, reuse[doc["row_index"]])
    todo = [doc for doc in docs if doc["row_index"] not in done]
    if len(todo) < len(docs):
        logger.info("judge of %s: %d rows already judged, %d to go", path, len(done), len(todo))
    if todo:
        lm = _load_judge(model, model_args, batch_size=batch_size, device=device)
        settings = {"do_sample": True, **model_sampling(lm), **(gen_kwargs or {})}
        chat = apply_chat_template or _chat_only(lm)
        if system_instruction is None and apply_chat_template:
            from harness.intrinsic.rubrics import JUDGE_SYSTEM_PROMPT

            system_instruction = JUDGE_SYSTEM_PROMPT
        manager = _task_manager(path, include_invalid, name)
        # ``samples`` positions index the task's documents: every (valid) row, file order.
        position = {doc["row_index"]: i for i, doc in enumerate(task_docs)}
        step = chunk_size if progress_file else len(todo)
        for chunk in _chunks([position[doc["row_index"]] for doc in todo], step):
            for result in _judge_chunk(lm, manager, chunk, settings, chat, system_instruction):
                done[result.row_index] = result
                if progress_file:
                    append_jsonl(progress_file, {"key": progress_key, **_record(result)})
    wanted = {doc["row_index"] for doc in docs}
    results = sorted((r for i, r in done.items() if i in wanted), key=lambda r: r.row_index)
    n_bad = sum(not r.parsed for r in results)
    if n_bad:
        logger.warning("%d of %d judgements of %s were unparseable", n_bad, len(results), path)
    return results


def model_sampling(lm: Any) -> dict[str, Any]:
    """The judge's default sampling: the model's own temperature (METHOD.md "Protocol facts").

    lm-eval's ``hf`` backend turns a missing temperature into 0.0, which ``generate``
    rejects when sampling; a ``transformers`` model's generation config supplies its own
    (its top_p and top_k apply by themselves). Other backends sample at temperature 1.0
    with their defaults otherwise.
    """
    config = getattr(getattr(lm, "model", None), "generation_config", None)
    temperature = getattr(config, "temperature", None)
    if isinstance(temperature, (int, float)) and temperature > 0:
        return {"temperature": float(temperature)}
    return {"temperature": 1.0}


def _chat_only(lm: Any) -> bool:
    return any(cls.__name__ in _CHAT_ONLY_BACKENDS for cls in type(lm).__mro__)


def _load_judge(model: Any, model_args: str, *, batch_size: int | str, device: str | None) -> Any:
    if isinstance(model, str):
        from lm_eval.api.registry import get_model

        return get_model(model).create_from_arg_string(
            model_args, {"batch_size": batch_size, "device": device}
        )
    if callable(model) and not hasattr(model, "generate_until"):
        return model()  # a factory: the model loads only when rows remain to judge
    return model


def _task_manager(path: Path, include_invalid: bool, protocol: str) -> Any:
    from lm_eval.tasks import TaskManager

    from harness.paths import tasks_path

    return TaskManager(
        include_path=str(tasks_path()),
        include_defaults=False,
        metadata={
            "judge_data": str(path),
            "judge_include_invalid": include_invalid,
            "protocol": protocol,
        },
    )


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _judge_chunk(
    lm: Any,
    manager: Any,
    positions: list[int],
    gen_kwargs: dict[str, Any],
    apply_chat_template: bool,
    system_instruction: str | None,
) -> list[JudgeResult]:
    """One lm-eval call over the task documents at ``positions``."""
    from lm_eval import simple_evaluate

    out = simple_evaluate(
        model=lm,
        tasks=[TASK_NAME],
        samples={TASK_NAME: positions},
        gen_kwargs=gen_kwargs,
        apply_chat_template=apply_chat_template,
        system_instruction=system_instruction,
        task_manager=manager,
        log_samples=True,
        bootstrap_iters=0,
    )
    if out is None:  # non-zero rank under a distributed launcher
        return []
    return [_to_result(sample) for sample in out["samples"][TASK_NAME]]


def _record(result: JudgeResult) -> dict[str, Any]:
    return {
        "row_index": result.row_index,
        "seed_id": result.seed_id,
        "language": result.language,
        "raw_output": result.raw_output,
    }


def _load_progress(path: Path, key: str) -> dict[int, JudgeResult]:
    """Judgements saved under ``key`` (re-parsed); a file of another key is discarded."""
    records = read_records(path)
    if any(r.get("key") != key for r in records):
        logger.info("%s was written for other data or judge settings: judging afresh", path)
        path.unlink(missing_ok=True)
        return {}
    return {int(r["row_index"]): _result(r, str(r.get("raw_output") or "")) for r in records}


def _result(doc: Mapping[str, Any], raw: str) -> JudgeResult:
    judgement = parse_judgement(raw)
    return JudgeResult(
        row_index=int(doc["row_index"]),
        seed_id=str(doc.get("seed_id", "")),
        language=str(doc.get("language", "")),
        score=judgement.score,
        feedback=judgement.feedback,
        raw_output=raw,
    )


def _to_result(sample: dict[str, Any]) -> JudgeResult:
    resps = sample.get("resps") or [[""]]
    return _result(sample["doc"], resps[0][0] if resps and resps[0] else "")
