"""Evaluation configs built from what earlier stages left: student runs and family specs.

Nobody should retype a student's teacher, language or adapter layout to evaluate it:
the train stage's ``polyglot_run.json`` says all of it, and ``students.yaml`` says which
models are a family's base and reference. Output folders are named here (through
:func:`harness.naming.eval_run_name`) so the CLI and the grid put results alike.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, InputNotFoundError
from harness.evaluate.run import EvalConfig
from harness.naming import eval_run_name, parse_model_args
from harness.score.lm_eval_results import SIDECAR


def config_for_student(
    run_dir: str | Path,
    *,
    evals_dir: str | Path = "evals",
    extra_model_args: str = "",
    **overrides: Any,
) -> EvalConfig:
    """The config of a trained student, from the sidecar ``train`` wrote in its folder.

    Full runs load the folder; LoRA runs load the merged copy when there is one, else
    the base with the adapter (and the run's tokenizer, which may have added tokens).

    Args:
        run_dir: a finished student run folder (holding ``polyglot_run.json``).
        evals_dir: the evaluate stage's output root; ``out`` defaults to a folder in it.
        extra_model_args: lm-eval model_args added to (and winning over) the built ones.
        **overrides: any other :class:`EvalConfig` field.

    Raises:
        InputNotFoundError: no sidecar (not a finished run).
        ConfigError: the sidecar is not a student's or lacks its teacher or language.
    """
    run = Path(run_dir).expanduser().resolve()
    sidecar = run / SIDECAR
    if not sidecar.is_file():
        raise InputNotFoundError(
            f"{run_dir}: no {SIDECAR}, so not a finished student run; train it with "
            "`polyglot-harness train`, or evaluate it with --model-args pretrained=... "
            "--role student --family F --teacher T --target-language L"
        )
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ConfigError(f"{sidecar}: not valid JSON ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("role", "student") != "student":
        raise ConfigError(f"{sidecar}: not a student run's sidecar (role is not 'student')")
    missing = [k for k in ("student_family", "teacher", "target_language") if not meta.get(k)]
    if missing:
        raise ConfigError(f"{sidecar}: a student run needs field(s) {', '.join(missing)}")
    family, teacher, language = meta["student_family"], meta["teacher"], meta["target_language"]
    values: dict[str, Any] = {
        "out": str(Path(evals_dir) / eval_run_name("student", family, teacher, language)),
        "role": "student",
        "student_family": family,
        "teacher": teacher,
        "target_language": language,
        "languages": [language],
        "model_args": merge_model_args(_student_model_args(run, meta), extra_model_args),
    }
    return EvalConfig(**{**values, **overrides})


def config_for_family(
    family: str,
    role: str,
    languages: str | list[str],
    *,
    evals_dir: str | Path = "evals",
    students_file: str | Path | None = None,
    extra_model_args: str = "",
    **overrides: Any,
) -> EvalConfig:
    """The config of a family's untrained ``base`` or of its ``reference`` model.

    Args:
        family: a name in the students file, or (base only) any model id or folder,
            which is then its own family, as in ``train``.
        role: ``"base"`` or ``"reference"``.
        languages: the languages to evaluate in.
        evals_dir: the evaluate stage's output root; ``out`` defaults to a folder in it.
        students_file: a students.yaml instead of the bundled one.
        extra_model_args: lm-eval model_args added to (and winning over) ``pretrained=``.
        **overrides: any other :class:`EvalConfig` field.

    Raises:
        ConfigError: role not base/reference, or no reference model for the family.
    """
    from harness.train.families import load_families, resolve_student

    if role not in ("base", "reference"):
        raise ConfigError(f"role {role!r}: a family provides a 'base' or a 'reference' model")
    spec = resolve_student(family, load_families(students_file))
    model = spec.base_model if role == "base" else spec.reference_model
    if not model:
        raise ConfigError(
            f"student family {family!r} declares no reference_model; add it to the students "
            f"file or pass --model-args pretrained=... --role reference --family {family}"
        )
    values: dict[str, Any] = {
        "out": str(Path(evals_dir) / eval_run_name(role, spec.name)),
        "role": role,
        "student_family": spec.name,
        "languages": languages,
        "model_args": merge_model_args(f"pretrained={model}", extra_model_args),
    }
    return EvalConfig(**{**values, **overrides})


def merge_model_args(base: str, extra: str) -> str:
    """lm-eval model_args ``base`` with ``extra``'s keys added or replacing base's."""
    merged = {**parse_model_args(base), **parse_model_args(extra)}
    return ",".join(f"{k}={v}" for k, v in merged.items() if k)


def _student_model_args(run: Path, meta: dict[str, Any]) -> str:
    if not meta.get("adapter"):
        return f"pretrained={run}"
    if meta.get("merged_model"):
        return f"pretrained={run / meta['merged_model']}"
    if not meta.get("base_model"):
        raise ConfigError(f"{run / SIDECAR}: a LoRA run needs field 'base_model'")
    return f"pretrained={meta['base_model']},peft={run},tokenizer={run}"
