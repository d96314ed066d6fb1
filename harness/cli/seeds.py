"""``polyglot-harness seeds``: build per-language seed pools from the paper's Hub sources.

Writes ``<out>/<lang>.jsonl`` (the bundled files' format, which ``generate --seeds``
reads) and optionally pushes one Hub dataset with a config per language. Behind a
firewall, ``--source-path NAME=PATH`` reads a local copy of a source in its Hub schema.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.errors import ConfigError
from harness.seeds.pool import DEFAULT_SAMPLE_SIZE, DEFAULT_SEED  # no numpy, no datasets


def _source_path(spec: str) -> tuple[str, Path]:
    """``wildchat=/data/wc`` -> ``("wildchat", Path("/data/wc"))``."""
    name, sep, value = spec.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {spec!r}")
    return name.strip(), Path(value.strip()).expanduser()


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "seeds",
        help="build seed pools per language from WildChat, HelpSteer3, EuroBlocks, Aya, ...",
        description=__doc__,
    )
    parser.add_argument("--languages", help="comma-separated ISO codes (default: the grid plus en)")
    parser.add_argument(
        "--sources",
        help="comma-separated source names (default: the paper's pool per language; "
        "wildchat, helpsteer3, euroblocks, aya, oasst2, gsm8k, magpie)",
    )
    parser.add_argument(
        "--sample-size", type=int, default=DEFAULT_SAMPLE_SIZE, help="rows per language"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="sampling seed")
    parser.add_argument("--out", type=Path, default=Path("seeds"), help="output folder")
    parser.add_argument("--push-to-hub", metavar="REPO_ID", help="also push to this dataset")
    parser.add_argument("--private", action="store_true", help="make the pushed repo private")
    parser.add_argument(
        "--source-path",
        metavar="NAME=PATH",
        action="append",
        default=[],
        type=_source_path,
        help="read source NAME from a local file or folder in its Hub schema (repeatable)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from harness.seeds import build_seeds, push_to_hub, save_seeds

    given = args.source_path or []
    if isinstance(given, dict):  # from --config: {name: path}
        given = [f"{k}={v}" for k, v in given.items()]
    try:  # strings come from --config, where argparse applies no type=
        pairs = [p if isinstance(p, tuple) else _source_path(str(p)) for p in given]
    except argparse.ArgumentTypeError as exc:
        raise ConfigError(f"--source-path: {exc}") from exc
    paths = dict(pairs)
    if len(paths) != len(pairs):
        raise ConfigError("--source-path names a source twice")
    dsets = build_seeds(
        args.languages or None,
        sources=[s.strip() for s in args.sources.split(",") if s.strip()] if args.sources else None,
        sample_size=args.sample_size,
        seed=args.seed,
        source_paths=paths,
        progress=not args.no_progress,
    )
    for path in save_seeds(dsets, args.out):
        print(f"{path}: {dsets[path.stem].num_rows} seeds")
    if args.push_to_hub:
        push_to_hub(dsets, args.push_to_hub, private=args.private)
        print(f"pushed {len(dsets)} language config(s) to {args.push_to_hub}")
    return 0
