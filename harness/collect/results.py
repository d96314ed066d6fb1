"""Find the lm-eval runs to collect and read what each one records about itself.

A results file says who the teacher was, which polyglot tasks ran, how many documents
each task built and (through the run record or task metadata) which protocol the
generation ran under; collect needs all of it before reading a single sample, so the
protocol can be settled, and refused when runs disagree, up front.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, InputNotFoundError
from harness.naming import RESULTS_GLOB, RUN_RECORD, model_from_args, parse_generation_task
from harness.protocol import PAPER, Protocol, resolve
from harness.redact import scrub_model_args

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunFile:
    """One lm-eval results file and what it says about the run."""

    results_path: Path
    teacher: str
    model_args: str
    run_id: str
    configs: dict[str, Any]
    n_samples: dict[str, Any] | None = None  # lm-eval's "n-samples": {task: {original, ...}}
    protocol: dict[str, Any] | None = None  # the generation run's record, when it left one


def _teacher_from(results: dict[str, Any]) -> str:
    config = results.get("config") or {}
    name = model_from_args(config.get("model_args"))
    return str(name or results.get("model_name") or config.get("model") or "unknown")


def _as_record(value: Any, where: str) -> dict[str, Any]:
    """A recorded protocol (a name or a ``Protocol.record`` dict) as a record dict."""
    try:
        record = resolve(str(value["name"] if isinstance(value, dict) else value)).record(
            value.get("deviations") if isinstance(value, dict) else None
        )
    except (ConfigError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(
            f"{where}: unreadable protocol {value!r} ({exc}); fix or remove the record"
        ) from exc
    return record


def _run_protocol(results_path: Path, root: Path, configs: dict[str, Any]) -> dict | None:
    """The protocol a generation run recorded: its run record, else its task metadata.

    The run record (``polyglot_run.json``) sits in the results folder or a folder above
    it, up to ``root``; an lm-eval CLI run has none, but may carry ``protocol`` in
    ``--metadata``.
    """
    above = [results_path.parent, *results_path.parent.parents]
    for folder in above[: above.index(root) + 1 if root in above else 1]:
        record = folder / RUN_RECORD
        if record.is_file():
            try:
                data = json.loads(record.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ConfigError(
                    f"{record}: unreadable run record ({exc}); fix or remove it"
                ) from exc
            if isinstance(data, dict) and data.get("protocol") is not None:
                return _as_record(data["protocol"], str(record))
    named = {
        str((c.get("metadata") or {}).get("protocol"))
        for c in configs.values()
        if (c.get("metadata") or {}).get("protocol") is not None
    }
    if len(named) > 1:
        raise ConfigError(
            f"{results_path}: tasks record different protocols {sorted(named)}; pass --protocol"
        )
    return _as_record(named.pop(), str(results_path)) if named else None


def find_runs(root: str | Path) -> list[RunFile]:
    """Every lm-eval results file under ``root`` that ran polyglot generation tasks."""
    root = Path(root)
    if not root.exists():
        raise InputNotFoundError(f"no such folder: {root}")
    runs = []
    for path in sorted(root.rglob(RESULTS_GLOB)):
        try:
            results = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            logger.warning("skipping unreadable results file %s (%s)", path, exc)
            continue
        if not isinstance(results, dict):
            logger.warning("skipping %s: not an lm-eval results object", path)
            continue
        configs = {
            k: v for k, v in (results.get("configs") or {}).items() if parse_generation_task(k)
        }
        if not configs:
            continue
        run_id = path.stem.removeprefix("results_")
        model_args = (results.get("config") or {}).get("model_args")
        runs.append(
            RunFile(
                path, _teacher_from(results), scrub_model_args(model_args), run_id, configs,
                results.get("n-samples") or {}, _run_protocol(path, root, configs),
            )
        )  # fmt: skip
    return runs


def choose_protocol(runs: list[RunFile], protocol: str | Protocol | None = None) -> dict:
    """The protocol record collect applies: ``protocol`` if given, else the runs' own.

    A run that recorded none counts as ``paper``. Runs recording different protocols
    are refused: one dataset has one protocol, and silently picking one would give
    some runs' rows verdicts their generation run did not ask for. The deviations the
    runs recorded (a demo's small ``n_docs``, ...) stay in the record, since the data
    carries them whatever protocol decides validity.
    """
    recorded = {str(r.results_path): r.protocol or resolve(PAPER).record() for r in runs}
    names = {rec["name"]: where for where, rec in recorded.items()}
    if protocol is None and len(names) > 1:
        (a, where_a), (b, where_b) = list(names.items())[:2]
        raise ConfigError(
            f"the runs record different protocols ({where_a}: {a!r}, {where_b}: {b!r}); "
            "collect them into separate --out folders, or pass --protocol to apply one"
        )
    deviations: dict[str, Any] = {}
    for rec in recorded.values():
        for key, value in (rec.get("deviations") or {}).items():
            seen = deviations.setdefault(key, [])
            if value not in seen:
                seen.append(value)
    chosen = resolve(protocol if protocol is not None else next(iter(names)))
    return chosen.record({k: v[0] if len(v) == 1 else v for k, v in deviations.items()})


def run_caps(run: RunFile) -> list[dict[str, Any]]:
    """Tasks of ``run`` that built fewer documents than ``n_docs`` asked for.

    translate and respond use each seed once, so a small seed pool (the bundled 30 and
    24 prompts) caps them: the dataset must say so, or a mostly-*generate* dataset
    passes for a balanced one.
    """
    caps = []
    for task, config in run.configs.items():
        options = {**(config.get("metadata") or {}), **(config.get("dataset_kwargs") or {})}
        available = (run.n_samples or {}).get(task, {}).get("original")
        try:
            requested = int(options["n_docs"])
        except (KeyError, TypeError, ValueError):
            continue
        if isinstance(available, int) and available < requested:
            strategy, language = parse_generation_task(task)  # type: ignore[misc]
            caps.append({
                "strategy": strategy, "language": language, "requested": requested,
                "available": available, "seeds": str(options.get("seeds") or "bundled"),
            })  # fmt: skip
    return caps
