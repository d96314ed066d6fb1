"""Command-line flags from a stage's config dataclass, and the config back from them.

Why: a field's type, default and help are written once, in the dataclass (STYLE.md,
point 3). The flags, the ``--config`` keys and ``--help`` are derived here, so a new
field is a new flag without touching the CLI, and a default cannot drift between the
two. Flags default to ``argparse.SUPPRESS``: only what the command line (or a
``--config`` file, through :mod:`harness.cli.main`) gives reaches the namespace, and the
dataclass fills in the rest, the one place a default lives; ``--help`` shows it from there.

Types map as follows: ``bool`` (and ``bool | None``) gives ``--x/--no-x``; a list or
tuple takes a comma-separated list; ``X | None`` also takes ``none``/``null``; ``int |
str`` tries a whole number first; ``metadata["choices"]`` becomes argparse choices and
``metadata["positional"]`` a positional argument.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Callable, Collection, Mapping
from typing import Any

NULL_WORDS = ("none", "null")
# tried in this order for a union such as ``int | str`` (the string always succeeds)
_UNION_ORDER: tuple[type, ...] = (int, float)


def config_fields(config: type) -> dict[str, dataclasses.Field]:
    """The fields a caller may set (``init`` fields), by name."""
    return {f.name: f for f in dataclasses.fields(config) if f.init}


def field_default(spec: dataclasses.Field) -> Any:
    """The field's default, its factory called; ``dataclasses.MISSING`` where it has none."""
    if spec.default is not dataclasses.MISSING:
        return spec.default
    if spec.default_factory is not dataclasses.MISSING:
        return spec.default_factory()
    return dataclasses.MISSING


def _shown(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def field_help(config: type, name: str, extra: str = "") -> str:
    """A field's ``metadata["help"]`` and its default, escaped for argparse's %-formatting.

    ``extra`` is what only the command line adds (how the flag combines with others).
    """
    spec = config_fields(config)[name]
    default = field_default(spec)
    empty = default is dataclasses.MISSING or default is None or default in ("", (), [])
    shown = "" if empty else f" (default: {_shown(default)})"
    text = " ".join(part for part in (spec.metadata["help"], extra) if part)
    # argparse %-formats help strings; Jinja's "{% ... %}" must not reach it raw
    return f"{text}{shown}".replace("%", "%%")


def _optional(kind: Any) -> tuple[Any, bool]:
    """(the annotation without ``None``, whether ``None`` is allowed)."""
    if typing.get_origin(kind) not in (typing.Union, types.UnionType):
        return kind, False
    members = [a for a in typing.get_args(kind) if a is not type(None)]
    optional = len(members) < len(typing.get_args(kind))
    inner = members[0] if len(members) == 1 else typing.Union[tuple(members)]  # noqa: UP007
    return inner, optional


def _is_sequence(kind: Any) -> bool:
    return typing.get_origin(kind) in (list, tuple)


def _scalar_parser(kind: Any) -> Callable[[str], Any]:
    """One value of ``kind`` from text; a union tries its members in a fixed order."""
    if typing.get_origin(kind) not in (typing.Union, types.UnionType):
        return kind
    members = sorted(
        typing.get_args(kind),
        key=lambda t: _UNION_ORDER.index(t) if t in _UNION_ORDER else len(_UNION_ORDER),
    )

    def parse(text: str) -> Any:
        for member in members[:-1]:
            try:
                return member(text)
            except (TypeError, ValueError):
                continue
        return members[-1](text)

    return parse


def value_parser(annotation: Any) -> Callable[[str], Any]:
    """The ``type=`` of a flag for a field annotated ``annotation``.

    The returned function carries ``nullable`` and ``comma_list``, which
    :mod:`harness.cli.main` reads to accept ``null`` and a YAML list in a ``--config``
    file for the flag.
    """
    kind, optional = _optional(annotation)
    if _is_sequence(kind):
        item = _scalar_parser(typing.get_args(kind)[0])
        container = typing.get_origin(kind)

        def parse(text: str) -> Any:
            if optional and text.strip().lower() in NULL_WORDS:
                return None
            return container(item(part.strip()) for part in text.split(",") if part.strip())

        name = "a comma-separated list"
    else:
        one = _scalar_parser(kind)

        def parse(text: str) -> Any:
            if optional and text.strip().lower() in NULL_WORDS:
                return None
            return one(text)

        name = getattr(kind, "__name__", "value")
    parse.__name__ = name  # argparse names the type in its error messages
    parse.nullable = optional  # type: ignore[attr-defined]
    parse.comma_list = _is_sequence(kind)  # type: ignore[attr-defined]
    return parse


def add_config_flags(
    parser: argparse.ArgumentParser,
    config: type,
    *,
    skip: Collection[str] = (),
    positional: Collection[str] = (),
    extra_help: Mapping[str, str] | None = None,
) -> None:
    """One flag (or positional) per field of ``config``, named ``--field-name``.

    Args:
        parser: the subcommand's parser.
        config: the stage's config dataclass.
        skip: fields the command sets itself (it adds their flags by hand, with
            :func:`field_help`, or computes them).
        positional: fields taken positionally (also ``metadata["positional"]``): a list
            field takes any number of values, another field one optional value.
        extra_help: per field, what only the command line adds to the field's help.
    """
    hints = typing.get_type_hints(config)
    extra_help = extra_help or {}
    for name, spec in config_fields(config).items():
        if name in skip:
            continue
        kind, _ = _optional(hints[name])
        help_text = field_help(config, name, extra_help.get(name, ""))
        if name in positional or spec.metadata.get("positional"):
            many = _is_sequence(kind)
            item = typing.get_args(kind)[0] if many else kind
            parser.add_argument(
                name, nargs="*" if many else "?", type=_scalar_parser(item),
                default=argparse.SUPPRESS, help=help_text,
            )  # fmt: skip
            continue
        common: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS, "help": help_text}
        flag = f"--{name.replace('_', '-')}"
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **common)
            continue
        parser.add_argument(
            flag, type=value_parser(hints[name]), choices=spec.metadata.get("choices"),
            required=field_default(spec) is dataclasses.MISSING, **common,
        )  # fmt: skip


def given(
    args: argparse.Namespace, config: type, *, only: Collection[str] | None = None
) -> dict[str, Any]:
    """The fields of ``config`` the command line or ``--config`` gave (the dataclass has
    the rest), restricted to ``only`` where the command shares a flag name with a field
    it sets itself."""
    names = set(config_fields(config)) if only is None else set(only)
    return {key: value for key, value in vars(args).items() if key in names}


def build(config: type, args: argparse.Namespace, **values: Any) -> Any:
    """``config`` from the given flags, ``values`` (what the command computed) on top."""
    return config(**{**given(args, config), **values})
