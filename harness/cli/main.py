"""``polyglot-harness``: one subcommand per pipeline stage, each a thin call into its API.

Every subcommand module exposes ``add_parser(subparsers)`` and ``run(args) -> int`` and
keeps heavy imports (torch, lm-eval, datasets) inside ``run``, so ``--help`` is instant.
``--config file.yaml`` supplies any flag's value; flags given on the command line win;
an unknown key in the file is an error.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import logging
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

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
    "predict": "predict",
    "publish": "publish",
    "run": "run",
    "status": "status",
}


QUIET_LOGGERS = ("httpx", "httpx2", "httpcore", "urllib3", "filelock")
CONFIG_HELP = "YAML file of flag values; command-line flags override it"
_TRUE = {"true", "yes", "on"}
_FALSE = {"false", "no", "off"}
_BOOL_ACTIONS = (
    argparse._StoreTrueAction,
    argparse._StoreFalseAction,
    argparse.BooleanOptionalAction,
)
_KINDS = {"int": "a whole number", "float": "a number", "Path": "a path", "str": "a string"}
# flags whose value is a comma-separated list, so a YAML list is joined rather than refused
_COMMA_HELP = re.compile(r"\bcomma\b|\([a-z]{2},[a-z]{2}")


def _available() -> dict[str, object]:
    modules = {}
    for name, module in SUBCOMMANDS.items():
        try:
            modules[name] = importlib.import_module(f"harness.cli.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"harness.cli.{module}":
                raise
    return modules


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors in one line, like every other bad input.

    Why: the README promises one line naming the problem; argparse prints the whole
    usage block first (a flag missing from a ``--config`` file ended in five lines).
    The usage is one ``--help`` away, and the line says so. Subparsers inherit the class.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="polyglot-harness",
        description="Benchmark language models as teachers of multilingual synthetic data.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    parser.add_argument("--config", type=Path, help=CONFIG_HELP)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _available().values():
        module.add_parser(subparsers)  # type: ignore[attr-defined]
    for sub in subparsers.choices.values():
        # the README shows ``polyglot-harness score --config f.yaml``: accept it after the
        # subcommand too; SUPPRESS keeps a --config given before it
        if not any(a.dest == "config" for a in sub._actions):
            sub.add_argument("--config", type=Path, default=argparse.SUPPRESS, help=CONFIG_HELP)
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
    pre = _Parser(prog="polyglot-harness", add_help=False)
    pre.add_argument("--config", type=Path)
    known, rest = pre.parse_known_args(argv)
    command = next((t for t in rest if t in SUBCOMMANDS), None)
    if known.config is None or command is None:
        return parser.parse_args(argv)
    import yaml

    try:
        values = yaml.safe_load(known.config.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read --config {known.config}: {exc}") from exc
    if not isinstance(values, dict):
        raise ConfigError(f"--config {known.config}: expected a mapping of flag names to values")
    sub = _subparser(parser, command)
    where = f"--config {known.config}"
    values = {str(k).replace("-", "_"): v for k, v in values.items()}
    actions: dict[str, argparse.Action] = {}
    for a in sub._actions:
        actions.setdefault(a.dest, a)  # --private/--public share a dest: same kind
    values = _negated_switches(values, actions, where)
    for key in values:
        if key not in actions or key in {"help", "run", "config"}:
            raise ConfigError(f"{where}: unknown key {key!r} for {command}")
        action = actions[key]
        values[key] = _config_value(action, values[key], f"{where}: {key!r}")
        action.required = False  # the file supplies it
        if not action.option_strings and action.nargs is None:
            action.nargs = "?"  # a positional the file supplies
    for group in sub._mutually_exclusive_groups:
        if any(a.dest in values for a in group._group_actions):
            group.required = False
    sub.set_defaults(**values)
    return parser.parse_args(argv)


def _negated_switches(
    values: dict[str, Any], actions: dict[str, argparse.Action], where: str
) -> dict[str, Any]:
    """``no_x: true`` for a ``--x/--no-x`` switch means ``x: false``: keys are flag names.

    Why: a flag such as ``--no-space`` was once a switch of its own (key ``no_space``);
    flags generated from a dataclass field ``space`` keep accepting that key.
    """
    out: dict[str, Any] = {}
    for key, value in values.items():
        base = key[3:] if key.startswith("no_") and key not in actions else None
        if base is None or not isinstance(actions.get(base), argparse.BooleanOptionalAction):
            out[key] = value
            continue
        if base in values:
            raise ConfigError(f"{where}: give {base!r} or {key!r}, not both")
        flag = _boolean(value, f"{where}: {key!r}", nullable=False)
        out[base] = not flag
    return out


def _kind(action: argparse.Action) -> str:
    return _KINDS.get(getattr(action.type, "__name__", "str"), "a valid value")


def _is_comma_list(action: argparse.Action) -> bool:
    default = action.default
    return bool(
        getattr(action.type, "comma_list", False)  # a list field (harness.cli.flags)
        or action.dest == "languages"
        or _COMMA_HELP.search(action.help or "")
        or (isinstance(default, str) and "," in default)
    )


def _boolean(value: Any, where: str, *, nullable: bool) -> bool | None:
    """YAML booleans as they are; the strings users write for them, case-insensitively.

    A string is never truth-cast: ``"false"`` is False, and ``"maybe"`` is an error.
    """
    if isinstance(value, bool) or (value is None and nullable):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigError(f"{where} must be true or false, not {value!r}")


def _scalar(action: argparse.Action, value: Any, where: str) -> Any:
    """One value through the flag's own ``type=`` and ``choices``, as argparse would."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        shown = {list: "a list", dict: "a mapping"}.get(type(value), repr(value))
        raise ConfigError(f"{where} must be {_kind(action)}, not {shown}")
    try:
        result = (action.type or str)(str(value))  # type: ignore[operator]
    except argparse.ArgumentTypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except (TypeError, ValueError):
        raise ConfigError(f"{where} must be {_kind(action)}, not {value!r}") from None
    if action.choices is not None and result not in action.choices:
        choices = ", ".join(map(str, action.choices))
        raise ConfigError(f"{where} must be one of {choices}, not {value!r}")
    return result


def _config_value(action: argparse.Action, value: Any, where: str) -> Any:
    """A ``--config`` value checked and converted like the flag it stands for.

    argparse applies ``type=`` only to string defaults, so without this a YAML list or a
    quoted ``"false"`` reached the command as is (``no_chat_template: "false"`` meant
    true). Lists are joined where the flag takes a comma-separated list, since that is
    what a user writing ``languages: [de, es]`` means.

    Raises:
        ConfigError: naming the key and the expected type.
    """
    if isinstance(action, _BOOL_ACTIONS) or (
        isinstance(action, argparse._StoreConstAction) and isinstance(action.const, bool)
    ):
        nullable = not isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction))
        return _boolean(value, where, nullable=nullable)
    if isinstance(action, argparse._AppendAction) or action.nargs in ("*", "+"):
        if isinstance(value, dict) and "=" in str(action.metavar or ""):
            value = [f"{k}={v}" for k, v in value.items()]  # NAME=PATH pairs as a mapping
        items = value if isinstance(value, list) else [value]
        return [_scalar(action, item, where) for item in items]
    nullable = action.default is None or getattr(action.type, "nullable", False)
    if value is None and not action.required and nullable:
        return None  # null where the flag's default (or its field) is null too
    if isinstance(value, list) and _is_comma_list(action):
        if not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
            raise ConfigError(f"{where} must be a list of names or a comma-separated string")
        value = ",".join(str(v).strip() for v in value)
    return _scalar(action, value, where)


def _one_line(exc: BaseException) -> str:
    """The error's message on one line, as the README promises for every bad input.

    Why: a YAML parser's message spans two lines (the problem, then ``in "<file>", line
    N``), and a registry, grid or ``--config`` file with a NUL byte printed both.
    """
    return re.sub(r"\s*\n\s*", " ", str(exc).strip())


def _report(exc: HarnessError) -> int:
    """The one place a ``HarnessError`` becomes what the user sees: one line, exit 2."""
    print(f"polyglot-harness: error: {_one_line(exc)}", file=sys.stderr)
    return 2


def one_line_errors(
    run: Callable[[argparse.Namespace], int],
) -> Callable[[argparse.Namespace], int]:
    """A command's ``run`` that ends a ``HarnessError`` the way :func:`main` does.

    Why: a command's parser is also built on its own (tests, scripts) and its ``run``
    called without :func:`main`; the exit status and the line must be the same there.
    Commands use this instead of catching ``HarnessError`` themselves.
    """

    @functools.wraps(run)
    def guarded(args: argparse.Namespace) -> int:
        try:
            return int(run(args) or 0)
        except HarnessError as exc:
            return _report(exc)

    return guarded


def parse_args(argv: list[str]) -> argparse.Namespace:
    """``argv`` parsed as :func:`main` parses it, ``--config`` file included.

    Raises:
        ConfigError: the ``--config`` file cannot be read or holds a bad key or value.
    """
    return _apply_config(make_parser(), argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parse_args(argv)
    except HarnessError as exc:
        return _report(exc)
    level = getattr(logging, str(args.log_level).upper(), logging.INFO)
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    if level > logging.DEBUG:  # one line per HTTP request drowns the progress that matters
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
    try:
        from harness.requirements import check_command

        check_command(args)  # a missing optional package fails now, not after the work
        return int(args.run(args) or 0)
    except HarnessError as exc:
        return _report(exc)
    except KeyboardInterrupt:
        print("polyglot-harness: interrupted; finished work is kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
