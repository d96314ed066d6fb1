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
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from harness.generate.runner import GenerationConfig, run_generation

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
        languages=args.languages.split(",") if args.languages else None,
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
    )
    run_generation(config, args.out)
    print(f"lm-eval output in {args.out}; next: polyglot-harness collect {args.out}")
    return 0
