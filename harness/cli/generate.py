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
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--teacher", help="a teacher name (or id) from the registry")
    who.add_argument("--model-args", help="lm-eval model_args, e.g. pretrained=org/model")
    parser.add_argument("--model", default="hf", help="lm-eval model type with --model-args")
    parser.add_argument("--registry", type=Path, help="teacher registry (default: bundled)")
    parser.add_argument("--languages", help="comma-separated ISO codes (default: the grid)")
    parser.add_argument("--strategies", default="generate,translate,respond")
    parser.add_argument("--limit", type=int, help="documents per task")
    parser.add_argument("--n-docs", type=int, help="documents to build per task")
    parser.add_argument("--seeds", help="seed folder from `polyglot-harness seeds`")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--max-gen-toks", type=int)
    parser.add_argument("--batch-size", default="8", help="fixed size; 'auto' is slow on CPU")
    parser.add_argument("--device")
    parser.add_argument("--no-chat-template", action="store_true")
    parser.add_argument("--chunk-size", type=int, default=256,
                        help="documents per task saved as one unit; a rerun resumes after the last")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("runs"), help="lm-eval output path")
    parser.add_argument("--protocol", help=_field_help("protocol"))
    parser.add_argument(
        "--structured-output",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=_field_help("structured_output"),
    )
    parser.set_defaults(run=run)


def _field_help(name: str) -> str:
    """The one copy of a field's documentation: its GenerationConfig metadata."""
    import dataclasses

    from harness.generate.runner import GenerationConfig

    spec = next(f for f in dataclasses.fields(GenerationConfig) if f.name == name)
    default = spec.default if spec.default is not dataclasses.MISSING else None
    return str(spec.metadata["help"]) + ("" if default is None else f" (default: {default})")


def grid_languages(spec: str | list[str] | None) -> list[str] | None:
    """The codes of ``--languages``, each one the generation tasks exist for.

    Checked before any model loads: lm-eval would otherwise fail on the missing task
    with a KeyError traceback, and an empty list would generate nothing and exit 0.

    Raises:
        ConfigError: no code given (``","``), or a language without generation tasks.
    """
    from harness.errors import ConfigError
    from harness.languages import GRID, parse_languages

    if spec is None:
        return None
    codes = [lang.code for lang in parse_languages(spec)]
    missing = [code for code in codes if code not in GRID]
    if missing:
        raise ConfigError(
            f"no generation tasks for language(s) {', '.join(missing)}; available: "
            f"{', '.join(GRID)}. To add one, add its line to the table in "
            "harness/languages.py and its seed file harness/seeds_data/<code>.jsonl, then "
            "run `python -m harness.generate.taskgen`"
        )
    return codes


def run(args: argparse.Namespace) -> int:
    from harness.generate.runner import GenerationConfig, run_generation

    languages = grid_languages(args.languages)
    if args.teacher:
        from harness.teachers import get_teacher, load_teachers

        spec = get_teacher(args.teacher, load_teachers(args.registry))
        model, model_args = spec.backend, spec.lm_eval_model_args()
    else:
        model, model_args = args.model, args.model_args
    batch = int(args.batch_size) if str(args.batch_size).isdigit() else args.batch_size
    config = GenerationConfig(
        model=model,
        model_args=model_args,
        languages=languages,
        strategies=args.strategies.split(","),
        limit=args.limit,
        n_docs=args.n_docs,
        seeds=args.seeds,
        seed=args.seed,
        max_gen_toks=args.max_gen_toks,
        batch_size=batch,
        device=args.device,
        apply_chat_template=not args.no_chat_template,
        chunk_size=args.chunk_size,
        protocol=args.protocol,
        structured_output=args.structured_output,
    )
    from harness.requirements import check_model_args

    check_model_args(model, model_args, "generate")  # backend installed, local paths exist
    off = ", ".join(f"{k}={v}" for k, v in sorted(config.deviations().items()))
    print(f"protocol {config.protocol}; deviations: {off or 'none'}")
    run_generation(config, args.out)
    print(f"lm-eval output in {args.out}; next: polyglot-harness collect {args.out}")
    return 0
