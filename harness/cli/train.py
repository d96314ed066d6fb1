"""``polyglot-harness train``: fine-tune a student on one teacher's collected dataset.

Flags are generated from :class:`harness.train.config.TrainConfig` (see
:mod:`harness.cli.flags`), so each option's help and default live once, in the
dataclass. ``--config file.yaml`` supplies values and flags win.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.cli import flags

_HELP = (
    "Fine-tune a student (TRL SFTTrainer, full or LoRA) on a collected dataset; writes "
    "<out>/<family>--<teacher>--<lang>/ with the model, a model card and polyglot_run.json."
)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``train`` subcommand with one flag per ``TrainConfig`` field."""
    from harness.train.config import TrainConfig

    parser = subparsers.add_parser("train", help=_HELP, description=_HELP)
    # SUPPRESS: the top-level ``--config`` of harness.cli.main must not be reset to None here
    parser.add_argument(
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        help="YAML file of TrainConfig fields; flags given on the command line override it.",
    )
    flags.add_config_flags(parser, TrainConfig)
    parser.set_defaults(run=run)
    return parser


def build_config(args: argparse.Namespace) -> Any:
    """The ``TrainConfig`` of parsed arguments: YAML file first, given flags on top.

    The file is read here too (not only by :mod:`harness.cli.main`), so the parser works
    on its own and unknown keys get the closest field suggested.
    """
    from harness.train.config import TrainConfig, load_config

    return load_config(getattr(args, "config", None), flags.given(args, TrainConfig))


def run(args: argparse.Namespace) -> int:
    """Train (or resume, or skip) one student and print where it is."""
    from harness.train.trainer import train_student

    result = train_student(build_config(args))
    meta = result.metadata
    state = "already trained, skipped" if result.skipped else f"{meta['global_step']} steps"
    protocol = (meta.get("protocol") or {}).get("name")
    print(
        f"{result.run_dir} ({meta['n_train_rows']} rows, {meta['mode']}, "
        f"protocol {protocol}, {state})"
    )
    return 0
