"""Artefact names, built and parsed in one place.

Names are for humans and file systems only: lineage (teacher, language, student
family, revisions) always also lives in dataset columns and card metadata.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_SLUG_BAD = re.compile(r"[^A-Za-z0-9._-]+")


def slug(name: str) -> str:
    """A file-system and repo-id safe form of a model id or path.

    ``google/gemma-3-4b-it`` -> ``google__gemma-3-4b-it``; local paths keep their last
    two parts so two checkpoints named ``final`` do not collide.
    """
    name = name.strip().rstrip("/")
    if name.startswith(("/", ".", "~")) or name.count("/") > 1:  # a path, not org/name
        name = "/".join(Path(name).expanduser().parts[-2:])
    return _SLUG_BAD.sub("-", name.replace("/", "__")).strip("-") or "unnamed"


def parse_model_args(model_args: Any) -> dict[str, str]:
    """lm-eval ``model_args`` (``"k=v,k2=v2"`` or a mapping, as results files hold it)."""
    if isinstance(model_args, Mapping):
        return {str(k): str(v) for k, v in model_args.items()}
    pairs = (part.split("=", 1) for part in str(model_args or "").split(",") if part.strip())
    return {p[0].strip(): (p[1] if len(p) == 2 else "") for p in pairs}


def model_from_args(model_args: Any) -> str | None:
    """The model an lm-eval run loaded: ``pretrained=`` (local backends) or ``model=`` (APIs)."""
    args = parse_model_args(model_args)
    return args.get("pretrained") or args.get("model") or None


def dataset_dir(root: str | Path, teacher: str, language: str) -> Path:
    """Where the collected dataset of one (teacher, language) lives."""
    return Path(root) / slug(teacher) / language


def student_run_name(student_family: str, teacher: str, language: str) -> str:
    """The folder (and repo) name of one trained student."""
    return f"{slug(student_family)}--{slug(teacher)}--{language}"


def parse_student_run_name(name: str) -> tuple[str, str, str]:
    """Inverse of :func:`student_run_name` (teacher and family as slugs)."""
    parts = name.split("--")
    if len(parts) != 3:
        raise ValueError(f"not a student run name: {name!r} (expected family--teacher--lang)")
    return parts[0], parts[1], parts[2]


def eval_run_name(
    role: str, student_family: str, teacher: str | None = None, language: str | None = None
) -> str:
    """The folder of one model's lm-eval output under the evaluate stage's ``--out``.

    The role leads, so a base, its reference and its students sort apart and a base
    named like a student run can never collide with one; the sidecar inside, not this
    name, is what ``score`` reads.

    Raises:
        ValueError: unknown role, or a student without teacher and language.
    """
    if role == "student":
        if not teacher or not language:
            raise ValueError("a student's eval run name needs its teacher and language")
        return f"student--{student_run_name(student_family, teacher, language)}"
    if role in ("base", "reference"):  # per language where one model serves one language
        return f"{role}--{slug(student_family)}" + (f"--{language}" if language else "")
    raise ValueError(f"unknown role {role!r}; expected student, base or reference")


def hub_repo_id(org: str, kind: str, *parts: str) -> str:
    """``org/polyglot-<kind>-<parts...>`` within the Hub's 96-character limit."""
    base = "-".join(["polyglot", kind, *(slug(p) for p in parts)])
    base = re.sub(r"-{2,}", "-", base.replace("__", "-"))[:96].strip("-.")
    return f"{org}/{base}"


# --- artefact files --------------------------------------------------------------------------
# Each file name a stage writes and a later stage (or the user) looks for, spelled once.

RUN_RECORD = "polyglot_run.json"  # "finished": beside a generation's results, a student, an eval
DATA_FILE = "data.parquet"  # a collected dataset: <data>/<teacher slug>/<lang>/data.parquet
SUMMARY_FILE = "summary.jsonl"  # intrinsic metrics, one line per (teacher, language)
ROWS_FILE = "rows.parquet"  # intrinsic per-row values beside the summary
SCORES_FILE = "scores.jsonl"  # the scorer's rows
LEADERBOARD_MD = "leaderboard.md"  # the leaderboard tables written beside scores.jsonl
LEADERBOARD_ROWS = "leaderboard.jsonl"  # the published leaderboard dataset's rows
EVAL_MANIFEST = "polyglot_eval_manifest.json"  # the evaluate stage's record of one model
UNTRAINED = "untrained.json"  # in a student run folder: no valid data, the student is its base
FINGERPRINT = "polyglot_fingerprint.json"  # beside checkpoints: what they were trained on
COSTS_FILE = "costs.json"  # compute hours per teacher, beside scores.jsonl
COSTS_LOG = "costs.jsonl"  # the grid's per-job cost log
PUBLISHED = "published.json"  # what a publish run pushed
INTERVALS_FILE = "intervals.jsonl"  # bootstrap intervals beside scores.jsonl
RANKS_FILE = "ranks.json"  # bootstrap rank stability and tie groups beside scores.jsonl
ALL_FAMILIES = "all"  # the scope of the mean over student families in ranks.json, robustness.json

# lm-eval's own output names (``--output_path``): its results and per-task samples files.
RESULTS_GLOB = "results_*.json"


def samples_glob(task: str = "*") -> str:
    """The ``--log_samples`` files of ``task`` (any run) in an lm-eval results folder."""
    return f"samples_{task}_*.jsonl"


def samples_file(task: str, run_id: str) -> str:
    """The ``--log_samples`` file of ``task`` in the run stamped ``run_id``."""
    return f"samples_{task}_{run_id}.jsonl"


# --- lm-eval task names ----------------------------------------------------------------------
# polyglot_{strategy}_{lang}   generation leaf    polyglot_{lang}, polyglot   its groups
# polyglot_eval_{token}_{lang} benchmark leaf     polyglot_eval_{lang}        paper-suite group
#                                                 polyglot_eval_ext_{lang}    extended group
# polyglot_judge                                  the rubric judge

TASK_PREFIX = "polyglot"
EVAL_PREFIX = f"{TASK_PREFIX}_eval"
JUDGE_TASK = f"{TASK_PREFIX}_judge"
FLUENCY_TASK = f"{TASK_PREFIX}_fluency"
EXTENDED_TOKEN = "ext"  # never a benchmark token: it names the extended groups
# Matched only by patterns that name them: a generation sweep ``polyglot_*`` must not run
# benchmarks, the judge or the fluency scorer on a teacher.
EXPLICIT_ONLY: tuple[str, ...] = (EVAL_PREFIX, JUDGE_TASK, FLUENCY_TASK)

# Folders under the package's tasks/ (what ``--include_path`` takes).
GENERATION_TASKS = TASK_PREFIX
EVAL_TASKS = EVAL_PREFIX
HELDOUT_TASKS = f"{TASK_PREFIX}_heldout"
JUDGE_TASKS = JUDGE_TASK

_LANG = r"(?P<lang>[a-z]{2,3})"
_GENERATION_RE = re.compile(rf"^{TASK_PREFIX}_(?P<strategy>[a-z]+)_{_LANG}$")
_EVAL_RE = re.compile(rf"^{EVAL_PREFIX}_(?P<token>[a-z0-9_]+?)_{_LANG}$")
_EVAL_GROUP_RE = re.compile(rf"^{EVAL_PREFIX}_(?:(?P<ext>{EXTENDED_TOKEN})_)?{_LANG}$")


def generation_task(strategy: str, language: str) -> str:
    """The generation leaf task of one strategy in one language."""
    return f"{TASK_PREFIX}_{strategy}_{language}"


def generation_group(language: str | None = None) -> str:
    """A language's generation group (its three strategies), or the top group of all."""
    return f"{TASK_PREFIX}_{language}" if language else TASK_PREFIX


def parse_generation_task(name: str) -> tuple[str, str] | None:
    """``(strategy, language)`` of a generation leaf task; None for any other name."""
    from harness.schema import STRATEGIES  # schema imports this module

    match = _GENERATION_RE.match(name)
    if not match or match["strategy"] not in STRATEGIES:
        return None
    return match["strategy"], match["lang"]


def eval_task(token: str, language: str) -> str:
    """The leaf task of a benchmark (by its task-name token) in one language.

    Raises:
        ValueError: the token would make a name that parses as something else.
    """
    if not re.fullmatch(r"[a-z0-9]+(?:_[a-z0-9]+)*", token) or token == EXTENDED_TOKEN:
        raise ValueError(
            f"benchmark task token {token!r} must be lower-case words joined by '_' "
            f"and not {EXTENDED_TOKEN!r}"
        )
    return f"{EVAL_PREFIX}_{token}_{language}"


def eval_group(language: str, *, extended: bool = False) -> str:
    """A language's benchmark group: the paper suite, or (``extended``) paper + added ones."""
    return f"{EVAL_PREFIX}_{EXTENDED_TOKEN}_{language}" if extended else f"{EVAL_PREFIX}_{language}"


def parse_eval_task(name: str) -> tuple[str, str] | None:
    """``(token, language)`` of a benchmark leaf task; None for groups and other names.

    The token is what the benchmark registry (:mod:`harness.evaluate.benchmarks`) maps
    to a benchmark; this only splits the name.
    """
    if parse_eval_group(name) is not None:
        return None
    match = _EVAL_RE.match(name)
    return (match["token"], match["lang"]) if match else None


def parse_eval_group(name: str) -> tuple[str, bool] | None:
    """``(language, extended)`` of a benchmark group name; None for any other name."""
    match = _EVAL_GROUP_RE.match(name)
    return (match["lang"], bool(match["ext"])) if match else None
