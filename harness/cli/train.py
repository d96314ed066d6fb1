"""``polyglot-harness train``: fine-tune a student on one teacher's collected dataset.

Flags are generated from :class:`harness.train.config.TrainConfig`, so each option's help
lives once, in the dataclass (``--protocol`` included). ``--config file.yaml`` supplies
defaults and flags win.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from pathlib import Path
from typing import Any

_HELP = (
    "Fine-tune a student (TRL SFTTrainer, full or LoRA) on a collected dataset; writes "
    "<out>/<family>--<teacher>--<lang>/ with the model, a model card and polyglot_run.json."
)


def _optional(kind: Any) -> tuple[Any, bool]:
    """(inner type, is Optional) of a field annotation."""
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    if len(args) == 1 and type(None) in typing.get_args(kind):
        return args[0], True
    return kind, False


def _parse_value(inner: type, optional: bool):
    def parse(text: str) -> Any:
        if optional and text.lower() in ("none", "null"):
            return None
        return inner(text)

    parse.__name__ = inner.__name__  # argparse names the type in its error messages
    return parse


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
    hints = typing.get_type_hints(TrainConfig)
    for spec in dataclasses.fields(TrainConfig):
        inner, optional = _optional(hints[spec.name])
        # argparse %-formats help strings; Jinja's "{% ... %}" must not reach it raw
        shown = "" if spec.default is None else f" (default: {spec.default})"
        help_text = f"{spec.metadata['help']}{shown}".replace("%", "%%")
        common: dict[str, Any] = {
            "dest": spec.name,
            "default": argparse.SUPPRESS,
            "help": help_text,
        }
        if spec.metadata.get("positional"):
            parser.add_argument(spec.name, nargs="?", default=argparse.SUPPRESS, help=help_text)
            continue
        flags = [f"--{spec.name.replace('_', '-')}"]
        if inner is bool:
            parser.add_argument(*flags, action=argparse.BooleanOptionalAction, **common)
        else:
            choices = spec.metadata.get("choices")
            parser.add_argument(
                *flags, type=_parse_value(inner, optional), choices=choices, **common
            )
    parser.set_defaults(run=run)
    return parser


def build_config(args: argparse.Namespace) -> Any:
    """The ``TrainConfig`` of parsed arguments: YAML file first, given flags on top."""
    from harness.train.config import config_fields, load_config

    known = config_fields()
    overrides = {key: value for key, value in vars(args).items() if key in known}
    return load_config(getattr(args, "config", None), overrides)


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
