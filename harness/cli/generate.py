"""``polyglot-harness generate``: one teacher writes SFT pairs, via lm-eval.

Equivalent to ``lm_eval --tasks 'polyglot_*' --apply_chat_template --log_samples``, saved in
chunks so an interrupted run resumes; ``--teacher`` takes a name from ``teachers.yaml``.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="have one teacher generate SFT data (lm-eval polyglot_* tasks)",
        description=__doc__,
    )
    from harness.cli.flags import add_config_flags, field_help
    from harness.generate.runner import GenerationConfig

    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--teacher", help="a teacher name (or id) from the registry")
    who.add_argument(
        "--model-args", help=field_help(GenerationConfig, "model_args", "(instead of --teacher)")
    )
    parser.add_argument(
        "--model", help=field_help(GenerationConfig, "model", "(with --model-args)")
    )
    parser.add_argument("--registry", type=Path, help="teacher registry (default: bundled)")
    parser.add_argument(
        "--no-chat-template",
        dest="no_chat_template",
        action="store_true",
        default=argparse.SUPPRESS,
        help="send raw prompts (the default renders them with the teacher's chat template)",
    )
    parser.add_argument("--out", type=Path, default=Path("runs"), help="lm-eval output path")
    parser.add_argument(  # as typed: grid_languages names what is wrong with it
        "--languages", help=field_help(GenerationConfig, "languages", "(comma-separated)")
    )
    add_config_flags(
        parser, GenerationConfig, skip=("model", "model_args", "apply_chat_template", "languages")
    )
    parser.set_defaults(run=run)


def grid_languages(spec: str | list[str] | None) -> list[str] | None:
    """The codes of ``--languages``, each one the generation tasks exist for.

    Checked before any model loads: lm-eval would otherwise fail on the missing task
    with a KeyError traceback, and an empty list would generate nothing and exit 0.

    Raises:
        ConfigError: no code given (``","``), or a language without generation tasks.
    """
    from harness.errors import ConfigError
    from harness.languages import generation_languages, parse_languages

    if spec is None:
        return None
    available = generation_languages()
    codes = [lang.code for lang in parse_languages(spec)]
    missing = [code for code in codes if code not in available]
    if missing:
        raise ConfigError(
            f"no generation tasks for language(s) {', '.join(missing)}; available: "
            f"{', '.join(available)}. To add one, write a language pack (<code>.yaml and "
            "<code>.jsonl) and name its folder in POLYGLOT_HARNESS_LANGUAGE_PACKS"
        )
    return codes


def run(args: argparse.Namespace) -> int:
    from harness.cli.flags import build
    from harness.generate.runner import GenerationConfig, run_generation

    languages = grid_languages(args.languages)
    if args.teacher:
        from harness.teachers import get_teacher, load_teachers

        spec = get_teacher(args.teacher, load_teachers(args.registry))
        model, model_args = spec.backend, spec.lm_eval_model_args()
    else:
        model, model_args = args.model or GenerationConfig.model, args.model_args
    chat = {"apply_chat_template": False} if getattr(args, "no_chat_template", False) else {}
    config = build(
        GenerationConfig, args, model=model, model_args=model_args, languages=languages, **chat
    )
    from harness.requirements import check_model_args

    check_model_args(model, model_args, "generate")  # backend installed, local paths exist
    off = ", ".join(f"{k}={v}" for k, v in sorted(config.deviations().items()))
    print(f"protocol {config.protocol}; deviations: {off or 'none'}")
    run_generation(config, args.out)
    print(f"lm-eval output in {args.out}; next: polyglot-harness collect {args.out}")
    return 0
