"""``polyglot-harness evaluate``: lm-eval runs of students, bases and references, resumable.

Student runs are read from their ``polyglot_run.json``; ``--base`` and ``--reference``
take a family from ``students.yaml``; ``--role`` with ``--model-args`` evaluates any
other model. Each model's output goes to ``<out>/<name>`` (see
:func:`harness.naming.eval_run_name`), which ``score --extrinsic <out>`` reads as is.
Shared flags are generated from :class:`harness.evaluate.run.EvalConfig` (see
:mod:`harness.cli.flags`); the others take their help from it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.cli import flags
from harness.score.lm_eval_results import SIDECAR
from harness.score.rows import ROLES

_HELP = (
    "Evaluate student runs, a family's base and reference, or any model with lm-eval; "
    "writes <out>/<role>--<name>/ (results, samples, polyglot_run.json) and skips tasks "
    "already evaluated alike."
)
# EvalConfig fields that every model of one invocation shares, exposed as flags as-is.
_SHARED: tuple[str, ...] = (
    "model",
    "suite",
    "batch_size",
    "device",
    "limit",
    "data_dir",
    "apply_chat_template",
    "gen_kwargs",
    "protocol",
)


def _eval_config() -> type:
    from harness.evaluate.run import EvalConfig

    return EvalConfig


def _field_help(name: str, extra: str = "") -> str:
    """The one copy of a field's documentation: its EvalConfig metadata (and default)."""
    return flags.field_help(_eval_config(), name, extra)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``evaluate`` (flags only; the work is in :mod:`harness.evaluate.run`)."""
    config = _eval_config()
    parser = subparsers.add_parser("evaluate", help=_HELP, description=_HELP)
    parser.add_argument(
        "runs",
        nargs="*",
        type=Path,
        default=[],
        help=f"student run folders (holding {SIDECAR}), or a folder of them",
    )
    parser.add_argument("--out", type=Path, default=Path("evals"),
                        help="output root; one folder per model (default: evals)")  # fmt: skip
    parser.add_argument("--base", metavar="FAMILY", help="evaluate this family's base model")
    parser.add_argument(
        "--reference", metavar="FAMILY", help="evaluate this family's reference model"
    )
    parser.add_argument(
        "--role", choices=ROLES, help="evaluate the model of --model-args in this role"
    )
    parser.add_argument("--family", help="with --role: " + _field_help("student_family"))
    parser.add_argument("--teacher", help=_field_help("teacher"))
    parser.add_argument("--target-language", help=_field_help("target_language"))
    parser.add_argument(
        "--languages",
        help=_field_help(
            "languages", "Required for --base, --reference and --role (a student's default: "
            "its target language)."
        ),
    )  # fmt: skip
    parser.add_argument(
        "--model-args",
        default="",
        help=_field_help(
            "model_args", "With student runs, --base or --reference, added to the "
            "pretrained=... built for them (e.g. dtype=bfloat16)."
        ),
    )  # fmt: skip
    parser.add_argument("--students-file", help="a students.yaml instead of the bundled one")
    # the fields every model of one invocation shares: flags as the dataclass defines them
    flags.add_config_flags(
        parser, config, skip=[f for f in flags.config_fields(config) if f not in _SHARED]
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="show lm-eval's progress bars (default: on)",
    )
    parser.set_defaults(run=run)
    return parser


def _student_runs(paths: list[Path]) -> list[Path]:
    """Each path itself when it is a run, else the runs directly inside it."""
    runs: list[Path] = []
    for path in paths:
        inside = sorted(p.parent for p in path.glob(f"*/{SIDECAR}"))
        runs += inside if inside and not (path / SIDECAR).is_file() else [path]
    return runs


def build_configs(args: argparse.Namespace) -> list[Any]:
    """Every model's :class:`EvalConfig`, all validated before any model loads.

    Raises:
        ConfigError: nothing to evaluate, a missing flag, or two models in one folder.
    """
    from harness.errors import ConfigError
    from harness.evaluate.configs import config_for_family, config_for_student
    from harness.evaluate.run import EvalConfig
    from harness.naming import eval_run_name

    shared = flags.given(args, EvalConfig, only=_SHARED)
    extra = args.model_args or ""
    configs = []
    for run_dir in _student_runs([Path(p) for p in args.runs or []]):
        languages = {"languages": args.languages} if args.languages else {}
        configs.append(
            config_for_student(
                run_dir, evals_dir=args.out, extra_model_args=extra, **languages, **shared
            )
        )
    for role in ("base", "reference"):
        family = getattr(args, role)
        if family:
            if not args.languages:
                raise ConfigError(f"--{role} needs --languages (e.g. --languages de,es)")
            configs.append(
                config_for_family(
                    family,
                    role,
                    args.languages,
                    evals_dir=args.out,
                    students_file=args.students_file,
                    extra_model_args=extra,
                    **shared,
                )
            )
    if args.role:
        if not args.family:
            raise ConfigError("--role needs --family (the student family of this model)")
        languages = args.languages or args.target_language
        try:
            name = eval_run_name(args.role, args.family, args.teacher, args.target_language)
        except ValueError as exc:
            raise ConfigError(f"--role {args.role}: {exc} (--teacher, --target-language)") from None
        configs.append(
            EvalConfig(
                out=str(Path(args.out) / name),
                role=args.role,
                student_family=args.family,
                teacher=args.teacher,
                target_language=args.target_language,
                languages=languages or [],
                model_args=extra,
                **shared,
            )
        )
    if not configs:
        raise ConfigError(
            "nothing to evaluate: pass student run folders, --base FAMILY, --reference FAMILY, "
            "or --role ROLE --family F --model-args pretrained=..."
        )
    outs = [c.out for c in configs]
    twice = sorted({o for o in outs if outs.count(o) > 1})
    if twice:
        raise ConfigError(f"two models would be evaluated into {twice[0]}; evaluate them apart")
    return configs


def run(args: argparse.Namespace) -> int:
    """Evaluate every model in turn; print one line per model."""
    from harness.evaluate.run import evaluate_model

    for config in build_configs(args):
        result = evaluate_model(config, progress=args.progress)
        print(
            f"{result.results_dir}: {len(result.tasks_run)} task(s) run, "
            f"{len(result.tasks_skipped)} already done, {len(result.rows)} score row(s)"
        )
    return 0
