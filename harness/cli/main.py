"""``polyglot-harness``: one subcommand per pipeline stage, each a thin call into its API.

Every subcommand module exposes ``add_parser(subparsers)`` and ``run(args) -> int`` and
keeps heavy imports (torch, lm-eval, datasets) inside ``run``, so ``--help`` is instant.
``--config file.yaml`` supplies any flag's value; flags given on the command line win;
an unknown key in the file is an error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from pathlib import Path

from harness import __version__
from harness.errors import ConfigError, HarnessError

# subcommand -> module under harness.cli
SUBCOMMANDS: dict[str, str] = {
    "tasks-path": "tasks_path",
    "teachers": "teachers",
    "seeds": "seeds",
    "generate": "generate",
    "collect": "collect",
    "demo": "demo",
    "intrinsic": "intrinsic",
    "train": "train",
    "evaluate": "evaluate",
    "score": "score",
    "leaderboard": "leaderboard",
    "analyze": "analyze",
    "publish": "publish",
    "run": "run",
    "status": "status",
}


QUIET_LOGGERS = ("httpx", "httpx2", "httpcore", "urllib3", "filelock")


def _available() -> dict[str, object]:
    modules = {}
    for name, module in SUBCOMMANDS.items():
        try:
            modules[name] = importlib.import_module(f"harness.cli.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"harness.cli.{module}":
                raise
    return modules


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="polyglot-harness",
        description="Benchmark language models as teachers of multilingual synthetic data.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    parser.add_argument(
        "--config", type=Path, help="YAML file of flag values; command-line flags override it"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _available().values():
        module.add_parser(subparsers)  # type: ignore[attr-defined]
    return parser


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[command]
    raise KeyError(command)


def _apply_config(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Parse ``argv``; values from ``--config`` become defaults the command line overrides.

    The file is read *before* the real parse, so it can also supply flags that are
    otherwise required (``--org``, ``--extrinsic``) and positional inputs.
    """
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", type=Path)
    known, rest = pre.parse_known_args(argv)
    command = next((t for t in rest if t in SUBCOMMANDS), None)
    if known.config is None or command is None:
        return parser.parse_args(argv)
    import yaml

    try:
        values = yaml.safe_load(known.config.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read --config {known.config}: {exc}") from exc
    if not isinstance(values, dict):
        raise ConfigError(f"--config {known.config}: expected a mapping of flag names to values")
    sub = _subparser(parser, command)
    values = {str(k).replace("-", "_"): v for k, v in values.items()}
    actions = {a.dest: a for a in sub._actions}
    for key in values:
        if key not in actions or key in {"help", "run"}:
            raise ConfigError(f"--config {known.config}: unknown key {key!r} for {command}")
        action = actions[key]
        action.required = False  # the file supplies it
        if not action.option_strings and action.nargs is None:
            action.nargs = "?"  # a positional the file supplies
    for group in sub._mutually_exclusive_groups:
        if any(a.dest in values for a in group._group_actions):
            group.required = False
    sub.set_defaults(**values)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = make_parser()
    try:
        args = _apply_config(parser, argv)
    except HarnessError as exc:
        print(f"polyglot-harness: error: {exc}", file=sys.stderr)
        return 2
    level = getattr(logging, str(args.log_level).upper(), logging.INFO)
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    if level > logging.DEBUG:  # one line per HTTP request drowns the progress that matters
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
    try:
        return int(args.run(args) or 0)
    except HarnessError as exc:
        print(f"polyglot-harness: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("polyglot-harness: interrupted; finished work is kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
