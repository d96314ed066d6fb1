"""The evaluate stage: one model's lm-eval run over a suite, resumable task by task.

Students, their untrained base and the family's reference are all evaluated the same
way, so ``score`` reads all three from one folder of lm-eval output. Each model gets its
own folder (named by :func:`harness.naming.eval_run_name`) holding lm-eval's CLI layout
(``<model>/results_*.json`` + per-sample ``samples_*.jsonl``, which bootstrap intervals
need), a manifest of finished tasks, and the ``polyglot_run.json`` sidecar that tells
``score`` whose results these are (lineage lives in data, never only in a name).

Leaf tasks are run (never groups), and the manifest records each with the fingerprint
of the run that produced it, so a rerun runs only what is missing or was run differently
(another model, limit, data, chat template or protocol) and a killed job loses only its
last call. The protocol (:mod:`harness.protocol`) reaches the tasks as lm-eval metadata
and, for MGSM's decoding, as generation kwargs; the manifest and the sidecar record it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, UnknownLanguageError
from harness.evaluate import heldout
from harness.evaluate.benchmarks import (
    BENCHMARKS,
    DATA_DIR_KEY,
    extended_suite,
    offered,
    paper_suite,
    resolve_data_dir,
)
from harness.evaluate.lm_eval_io import count_tokens, run_lm_eval
from harness.files import atomic_write_text
from harness.languages import get_language
from harness.naming import EVAL_MANIFEST
from harness.protocol import DEFAULT as DEFAULT_PROTOCOL
from harness.protocol import Protocol
from harness.protocol import resolve as resolve_protocol
from harness.redact import scrub_model_args
from harness.score.lm_eval_results import SIDECAR, read_lm_eval_results, task_benchmark
from harness.score.rows import ROLES, ExtrinsicRow

logger = logging.getLogger(__name__)

SUITES: tuple[str, ...] = ("paper", "extended", heldout.BENCHMARK)
MANIFEST = EVAL_MANIFEST


@dataclass
class EvalConfig:
    """How one model (a student, a base or a reference) is evaluated."""

    out: str = field(
        default="",
        metadata={
            "help": "Folder for this model's lm-eval output, manifest and polyglot_run.json."
        },
    )
    role: str = field(default="base", metadata={"help": "student, base or reference."})
    student_family: str = field(
        default="", metadata={"help": "The student family this model anchors or belongs to."}
    )
    languages: list[str] = field(
        default_factory=list, metadata={"help": "ISO 639-1 codes to evaluate in (de,es,...)."}
    )
    model: str = field(
        default="hf", metadata={"help": "lm-eval model type (hf, vllm, local-completions, ...)."}
    )
    model_args: str = field(
        default="",
        metadata={"help": "lm-eval model_args, e.g. pretrained=/path,dtype=float32; credentials "
                  "in it never reach a file."},
    )  # fmt: skip
    suite: str = field(
        default="paper",
        metadata={"help": "paper (polyglot_eval_<lang>), extended (polyglot_eval_ext_<lang>), "
                  "heldout (offline demo benchmark) or a comma list of benchmarks: "
                  + ", ".join(BENCHMARKS) + "."},
    )  # fmt: skip
    teacher: str | None = field(default=None, metadata={"help": "Students only: the teacher."})
    target_language: str | None = field(
        default=None, metadata={"help": "Students only: the language it was trained on."}
    )
    batch_size: int | str = field(default=8, metadata={"help": "lm-eval batch size, or auto."})
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, cuda:0, ..."})
    limit: int | None = field(
        default=None, metadata={"help": "Documents per task (smoke tests); None: all."}
    )
    data_dir: str | None = field(
        default=None,
        metadata={"help": "Offline benchmark data, <dir>/<benchmark>/<config>/<split>.jsonl "
                  "(default: $POLYGLOT_EVAL_DATA_DIR, else the Hub)."},
    )  # fmt: skip
    apply_chat_template: bool = field(
        default=False, metadata={"help": "Render prompts with the model's chat template."}
    )
    gen_kwargs: str | None = field(
        default=None,
        metadata={"help": "lm-eval generation kwargs for generative tasks, applied over the "
                  "protocol's MGSM decoding (recorded as a deviation from it)."},
    )  # fmt: skip
    protocol: str = field(
        default=DEFAULT_PROTOCOL,
        metadata={"help": "paper (as the paper's code ran: MGSM sampled, M-RewardBench A/B "
                  "unseeded, its section sum over 4), corrected, paper+<correction>... or "
                  "corrected-<correction> (harness/protocol.py)."},
    )  # fmt: skip

    def __post_init__(self) -> None:
        self.out = str(self.out or "")
        if not self.out:
            raise ConfigError("field 'out' is required: the folder for this model's output")
        if self.role not in ROLES:
            raise ConfigError(f"field 'role' is {self.role!r}; expected one of {', '.join(ROLES)}")
        if not self.student_family:
            raise ConfigError("field 'student_family' is required")
        self.languages = _language_codes(self.languages, "languages")
        if self.role == "student":
            missing = [n for n in ("teacher", "target_language") if not getattr(self, n)]
            if missing:
                raise ConfigError(f"a student needs field(s) {', '.join(map(repr, missing))}")
            self.target_language = _language_codes([self.target_language], "target_language")[0]
        else:
            extra = [n for n in ("teacher", "target_language") if getattr(self, n)]
            if extra:
                raise ConfigError(f"field {extra[0]!r} is for students only, not a {self.role}")
        if not self.model:
            raise ConfigError("field 'model' is empty; pass an lm-eval model type such as hf")
        if isinstance(self.batch_size, str) and self.batch_size.isdigit():
            self.batch_size = int(self.batch_size)
        if isinstance(self.batch_size, bool) or (
            isinstance(self.batch_size, int) and self.batch_size < 1
        ):
            raise ConfigError(f"field 'batch_size' is {self.batch_size!r}; expected >= 1 or auto")
        if self.limit is not None and (isinstance(self.limit, bool) or self.limit < 1):
            raise ConfigError(f"field 'limit' is {self.limit!r}; expected a positive number")
        if self.data_dir is not None and not Path(self.data_dir).expanduser().is_dir():
            raise ConfigError(f"field 'data_dir': {self.data_dir} is not a folder")
        try:
            self.protocol = resolve_protocol(self.protocol).name
        except ConfigError as exc:
            raise ConfigError(f"field 'protocol': {exc}") from None
        resolve_tasks(self.suite, self.languages)  # fails now, not after the model loads

    @property
    def resolved_protocol(self) -> Protocol:
        return resolve_protocol(self.protocol)

    def protocol_record(self) -> dict[str, Any]:
        """What artefacts store: the protocol and the settings this run chose off it."""
        deviations: dict[str, Any] = {}
        if self.limit is not None:  # fewer documents than the benchmark has
            deviations["limit"] = self.limit
        if self.gen_kwargs:
            deviations["gen_kwargs"] = self.gen_kwargs
        return self.resolved_protocol.record(deviations)

    def identity(self) -> dict[str, str | None]:
        """Whose results these are: the keys ``score`` reads from the sidecar."""
        return {
            "role": self.role,
            "student_family": self.student_family,
            "teacher": self.teacher,
            "target_language": self.target_language,
        }

    def fingerprint(self) -> dict[str, Any]:
        """What makes a task's result reusable; batch size and device do not change it."""
        data_dir = resolve_data_dir({DATA_DIR_KEY: self.data_dir} if self.data_dir else None)
        return {
            "model": self.model,
            "model_args": scrub_model_args(self.model_args),
            "limit": self.limit,
            "data_dir": str(data_dir.resolve()) if data_dir else None,
            "apply_chat_template": self.apply_chat_template,
            "gen_kwargs": self.gen_kwargs,
            "protocol": self.protocol,
        }


@dataclass
class EvalResult:
    """What :func:`evaluate_model` did, and the rows ``score`` will read from ``out``.

    The counters cover this call's work only (nothing for skipped tasks), for cost
    accounting; token counts are ``None`` where no local tokenizer was at hand.
    """

    out: Path
    results_dir: Path
    tasks_run: list[str]
    tasks_skipped: list[str]
    rows: list[ExtrinsicRow]
    n_requests: int = 0
    prompt_tokens: int | None = None
    generated_tokens: int | None = None
    seconds: float = 0.0


def evaluate_model(config: EvalConfig, *, progress: bool = True) -> EvalResult:
    """Evaluate one model on its suite, running only tasks not already done alike.

    Missing tasks run in one ``lm_eval.simple_evaluate`` call (the model loads once);
    results, samples, the manifest and, last, the sidecar are written to ``config.out``.

    Args:
        config: the model and what to evaluate it on.
        progress: show progress bars; ``False`` (grid jobs' logs) hides those of task
            building and datasets, not lm-eval's per-request bars, which it forces on.

    Raises:
        ConfigError: ``config.out`` already holds another model's results.
    """
    start = time.perf_counter()
    out = Path(config.out)
    tasks = resolve_tasks(config.suite, config.languages)
    fingerprint = config.fingerprint()
    manifest = _read_manifest(out)
    if manifest.get("identity", config.identity()) != config.identity():
        raise ConfigError(
            f"{out} holds lm-eval results of {manifest['identity']}, not of "
            f"{config.identity()}; evaluate each model into its own folder"
        )
    done: dict[str, Any] = manifest.setdefault("tasks", {})
    results_dir = out / manifest.get("results_dir", "")
    todo = [t for t in tasks if not _is_done(results_dir, done.get(t), fingerprint)]
    skipped = [t for t in tasks if t not in todo]
    _check_one_protocol(out, done, tasks, config.protocol)
    other = [t for t, e in done.items() if t not in tasks and e.get("fingerprint") != fingerprint]
    if other:
        logger.warning("%s: %s were run with other settings; score reads them too", out, other)
    result = EvalResult(out, out, todo, skipped, [])
    if todo:
        logger.info("%s: evaluating %d task(s), %d already done", out, len(todo), len(skipped))
        with _progress_bars(progress):
            run = run_lm_eval(config, todo, out, manifest.get("results_dir"))
        if run is None:  # not the main process of a distributed run: it saves nothing
            return result
        manifest.update(
            identity=config.identity(),
            results_dir=run.results_dir.name,
            protocol=config.protocol_record(),
        )
        for task in todo:
            done[task] = {"fingerprint": fingerprint, "results_file": run.results_file.name}
        atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=2) + "\n")
        result.n_requests = run.n_requests
        result.prompt_tokens, result.generated_tokens = count_tokens(run.samples, config.model_args)
    else:
        logger.info("%s: all %d task(s) already evaluated; nothing to run", out, len(tasks))
    result.results_dir = out / manifest["results_dir"]
    _write_sidecar(result.results_dir, config, sorted(done))
    result.rows = read_lm_eval_results(result.results_dir, **config.identity())
    result.seconds = round(time.perf_counter() - start, 1)
    return result


def resolve_tasks(suite: str, languages: list[str]) -> list[str]:
    """The leaf lm-eval tasks of ``suite`` in each language, languages first.

    Raises:
        ConfigError: an unknown suite or benchmark, or a language none of it covers.
    """
    names = [n.strip() for n in str(suite).split(",") if n.strip()]
    known = list(BENCHMARKS)
    bad = [n for n in names if n not in known and (len(names) > 1 or n not in SUITES)]
    if not names or bad:
        raise ConfigError(
            f"field 'suite': unknown suite or benchmark {(bad or [suite])[0]!r}; choose "
            f"{', '.join(SUITES)} or a comma list of {', '.join(known)}"
        )
    tasks = []
    for code in languages:
        leaves = _leaves(names, get_language(code))
        if not leaves:
            raise ConfigError(f"language {code!r} has no benchmark in suite {suite!r}")
        tasks += leaves
    return tasks


def _leaves(names: list[str], language: Any) -> list[str]:
    code = language.code
    if names == ["paper"]:
        return [b.task_name(code) for b in paper_suite(language)]
    if names == ["extended"]:
        return [b.task_name(code) for b in extended_suite(language)]
    available = {b.name for b in offered(language)}
    return [BENCHMARKS[n].task_name(code) for n in names if n in available]


def _language_codes(value: Any, name: str) -> list[str]:
    codes = value.split(",") if isinstance(value, str) else list(value or [])
    codes = [str(c).strip() for c in codes if str(c).strip()]
    if not codes:
        raise ConfigError(f"field {name!r} is empty; pass ISO 639-1 codes such as de,es")
    try:
        return list(dict.fromkeys(get_language(c).code for c in codes))
    except UnknownLanguageError as exc:
        raise ConfigError(f"field {name!r}: {exc}") from None


def _read_manifest(out: Path) -> dict[str, Any]:
    path = out / MANIFEST
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc}); delete it to re-run") from exc


def _is_done(results_dir: Path, entry: dict[str, Any] | None, fingerprint: dict[str, Any]) -> bool:
    """Whether a task's recorded result is on disk and came from a run like this one."""
    if not entry or entry.get("fingerprint") != fingerprint:
        return False
    return (results_dir / str(entry.get("results_file"))).is_file()


def _check_one_protocol(out: Path, done: dict[str, Any], tasks: list[str], protocol: str) -> None:
    """Refuse a call that would leave results of two protocols in one folder.

    ``score`` reads every task's newest result in a folder under the one protocol its
    manifest records, so a task this call does not rerun must already be of its protocol.

    Raises:
        ConfigError: naming the tasks of another protocol and how to proceed.
    """
    other = {
        task: (entry.get("fingerprint") or {}).get("protocol") or "unrecorded"
        for task, entry in done.items()
        if task not in tasks and (entry.get("fingerprint") or {}).get("protocol") != protocol
    }
    if other:
        listed = ", ".join(f"{task} ({name})" for task, name in sorted(other.items()))
        raise ConfigError(
            f"{out} holds results of another protocol than {protocol!r}: {listed}; rerun "
            "them too (add their benchmarks and languages) or evaluate into another folder"
        )


def _write_sidecar(results_dir: Path, config: EvalConfig, tasks: list[str]) -> None:
    """Next to the results, not in ``out``: publish reads ``<root>/*/polyglot_run.json``
    as student training runs. Every task listed ran under ``protocol``
    (:func:`_check_one_protocol`)."""
    from harness import __version__

    languages = sorted({m[1] for m in map(task_benchmark, tasks) if m})
    meta = {
        **config.identity(),
        "model": config.model,
        "model_args": scrub_model_args(config.model_args),
        "suite": config.suite,
        "languages": languages,
        "tasks": tasks,
        "protocol": config.protocol_record(),
        "harness_version": __version__,
    }
    atomic_write_text(results_dir / SIDECAR, json.dumps(meta, indent=2, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def _progress_bars(show: bool) -> Iterator[None]:
    """Hide tqdm bars that take their default: tqdm reads ``TQDM_DISABLE`` per bar, and
    lm-eval and datasets offer no switch of their own. Scoped to the call."""
    if show:
        yield
        return
    old = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = old
