"""``polyglot-harness teachers``: list and validate the teacher registry."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "teachers",
        help="list (and validate) the teacher registry",
        description="Load teachers.yaml (or --registry), validate it and print it.",
    )
    parser.add_argument("--registry", type=Path, help="registry file (default: bundled)")
    parser.add_argument("--format", choices=["table", "lm-eval"], default="table",
                        help="table, or one lm_eval command line per teacher")  # fmt: skip
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from harness.teachers import load_teachers

    registry = load_teachers(args.registry)
    if args.format == "lm-eval":
        for spec in registry.values():
            print(f"lm_eval --model {spec.backend} --model_args {spec.lm_eval_model_args()} "
                  "--tasks 'polyglot_*' --apply_chat_template --log_samples --output_path runs/")  # fmt: skip
        return 0
    rows = [
        (s.name, s.id, s.family, s.size_b if s.size_b is not None else "?", s.backend,
         "api" if s.api else ("gated" if s.gated else ""))
        for s in registry.values()
    ]  # fmt: skip
    print(tabulate(rows, headers=["name", "id", "family", "size (B)", "backend", "access"]))
    return 0
