"""Rubric judge: an LLM grades each (prompt, response) pair 1-5 through lm-eval.

Judging runs as the ``polyglot_judge`` lm-eval task over a collected dataset, so any
lm-eval backend (``hf``, ``vllm``, API models) can be the judge with no code of ours per
backend. The parser is deliberately strict (METHOD.md: "unparseable judgements are
counted, not guessed"): a judgement is either one JSON object with an integer score
1-5, or text ending in exactly one ``[RESULT] n`` / ``Score: n``. Anything else, say a
score of 4.5, two results, a trailing remark, or Arabic-Indic digits, has score ``None``
and is counted in the parse rate, because picking "the most likely number" out of a
rambling judgement would put the parser's opinion into the metric.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, InputNotFoundError
from harness.files import append_jsonl, read_records
from harness.schema import DATA_FILE, read_collected

logger = logging.getLogger(__name__)

TASK_NAME = "polyglot_judge"
MIN_SCORE, MAX_SCORE = 1, 5

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


def summarize_judgements(results: Sequence[JudgeResult]) -> dict[str, float | int]:
    """Dataset-level numbers: mean score over parsed judgements and the parse rate.

    The mean excludes unparseable rows rather than scoring them, so the parse rate must
    be read next to it: a judge that parses 10% of the time has an unreliable mean.
    """
    scores = [r.score for r in results if r.score is not None]
    n = len(results)
    return {
        "rubric_score": sum(scores) / len(scores) if scores else math.nan,
        "judge_parse_rate": len(scores) / n if n else math.nan,
        "n_judged": n,
        "n_unparseable": n - len(scores),
    }


def resolve_data_file(data_path: str | Path) -> Path:
    """``data.parquet`` itself, or a dataset folder holding one.

    Raises:
        InputNotFoundError: neither exists.
    """
    path = Path(data_path).expanduser()
    if path.is_dir():
        path = path / DATA_FILE
    if not path.is_file():
        raise InputNotFoundError(
            f"no collected dataset at {path}: pass a {DATA_FILE} file or the "
            f"<teacher>/<lang> folder holding one"
        )
    return path


def load_judge_docs(data_path: str | Path, *, include_invalid: bool = False) -> list[dict]:
    """The judge task's documents: one per (valid) row, carrying its row position.

    Invalid rows are skipped by default because intrinsic metrics are computed on valid
    rows only and judging an empty or wrong-language response costs judge time for a
    known answer.

    Raises:
        InputNotFoundError: no dataset there.
        SchemaError: the file breaks the collected schema (e.g. nulls in ``valid``).
    """
    path = resolve_data_file(data_path)
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
    gen_kwargs: dict[str, Any] | None = None,
    apply_chat_template: bool = True,
    include_invalid: bool = False,
    system_instruction: str | None = None,
    device: str | None = None,
    progress_file: str | Path | None = None,
    progress_key: str = "",
    chunk_size: int = 64,
) -> list[JudgeResult]:
    """Judge every valid row of one collected dataset with any lm-eval backend.

    Runs lm-eval's ``simple_evaluate`` on the ``polyglot_judge`` task (the task reads the
    dataset from ``metadata["judge_data"]``) with samples logged, then parses each
    sample's generation and maps it back to its row by the ``row_index`` the doc carries.

    With ``progress_file``, rows are judged ``chunk_size`` at a time and each finished
    chunk's outputs are appended to that file, so a run killed after hours resumes with
    the rows not yet judged (per chunk, for every backend; lm-eval's request cache would
    only help backends that report each batch).

    Args:
        data_path: A ``data.parquet`` or the folder holding it.
        model: lm-eval model name (``"hf"``, ``"vllm"``, ...) or an ``LM`` instance.
        model_args: lm-eval model args, e.g. ``"pretrained=Unbabel/M-Prometheus-14B"``.
        batch_size: lm-eval batch size (``"auto"`` allowed).
        limit: Judge only the first ``limit`` documents.
        gen_kwargs: Overrides of the task's greedy generation settings, e.g.
            ``{"max_gen_toks": 512}``.
        apply_chat_template: Wrap the prompt in the judge's chat template (M-Prometheus
            and other instruct judges expect it).
        include_invalid: Also judge rows marked invalid at collection.
        system_instruction: System prompt; defaults to Prometheus's judge persona when a
            chat template is applied.
        device: lm-eval's device (``"cpu"``, ``"cuda:0"``); the backend's default if None.
        progress_file: JSONL of finished judgements to resume from and append to.
        progress_key: What the judgements depend on (judge, rubric, data, settings);
            records written under another key are discarded, never reused.
        chunk_size: Rows judged (and saved) per lm-eval call when resuming is on.

    Returns:
        One :class:`JudgeResult` per judged row, in row order.
    """
    from harness.intrinsic.rubrics import JUDGE_SYSTEM_PROMPT

    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be >= 1, got {chunk_size}")
    path = resolve_data_file(data_path)
    docs = load_judge_docs(path, include_invalid=include_invalid)
    docs = docs if limit is None else docs[:limit]
    if not docs:
        logger.warning("%s has no rows to judge", path)
        return []
    done = _load_progress(Path(progress_file), progress_key) if progress_file else {}
    todo = [pos for pos, doc in enumerate(docs) if doc["row_index"] not in done]
    if len(todo) < len(docs):
        logger.info("judge of %s: %d rows already judged, %d to go", path, len(done), len(todo))
    if todo:
        from lm_eval.api.registry import get_model
        from lm_eval.tasks import TaskManager

        from harness.paths import tasks_path

        if isinstance(model, str):  # loaded once, shared by every chunk
            model = get_model(model).create_from_arg_string(
                model_args, {"batch_size": batch_size, "device": device}
            )
        if system_instruction is None and apply_chat_template:
            system_instruction = JUDGE_SYSTEM_PROMPT
        manager = TaskManager(
            include_path=str(tasks_path()),
            include_defaults=False,
            metadata={"judge_data": str(path), "judge_include_invalid": include_invalid},
        )
        step = chunk_size if progress_file else len(todo)
        for chunk in _chunks(todo, step):
            for result in _judge_chunk(
                model, manager, chunk, gen_kwargs, apply_chat_template, system_instruction
            ):
                done[result.row_index] = result
                if progress_file:
                    append_jsonl(progress_file, {"key": progress_key, **_record(result)})
    wanted = {doc["row_index"] for doc in docs}
    results = sorted((r for i, r in done.items() if i in wanted), key=lambda r: r.row_index)
    n_bad = sum(not r.parsed for r in results)
    if n_bad:
        logger.warning("%d of %d judgements of %s were unparseable", n_bad, len(results), path)
    return results


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _judge_chunk(
    lm: Any,
    manager: Any,
    positions: list[int],
    gen_kwargs: dict[str, Any] | None,
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
    done = {}
    for r in records:
        judgement = parse_judgement(r.get("raw_output"))
        done[int(r["row_index"])] = JudgeResult(
            row_index=int(r["row_index"]),
            seed_id=str(r.get("seed_id", "")),
            language=str(r.get("language", "")),
            score=judgement.score,
            feedback=judgement.feedback,
            raw_output=str(r.get("raw_output") or ""),
        )
    return done


def _to_result(sample: dict[str, Any]) -> JudgeResult:
    doc = sample["doc"]
    resps = sample.get("resps") or [[""]]
    raw = resps[0][0] if resps and resps[0] else ""
    judgement = parse_judgement(raw)
    return JudgeResult(
        row_index=int(doc["row_index"]),
        seed_id=str(doc.get("seed_id", "")),
        language=str(doc.get("language", "")),
        score=judgement.score,
        feedback=judgement.feedback,
        raw_output=raw,
    )
