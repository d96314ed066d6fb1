"""``polyglot-harness publish``: push a run's datasets, students, results and leaderboard.

Flags are generated from :class:`harness.publish.PublishConfig` (see
:mod:`harness.cli.flags`); ``--metric-space`` pushes the metric Space with the same
visibility, dry-run and retry settings.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from harness.cli import flags
from harness.cli.main import one_line_errors

if TYPE_CHECKING:
    from harness.publish.metric_space import MetricSpaceConfig


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``publish``."""
    from harness.publish import PublishConfig

    parser = subparsers.add_parser(
        "publish",
        help="publish datasets, students, lm-eval results and the leaderboard to the Hub",
        description="Push one dataset repo per teacher (a config per language), one model "
        "repo per student, the lm-eval results/details, a leaderboard dataset and its Space. "
        "Inputs are recognised by their content: collected data, student run folders, "
        "scores.jsonl, an intrinsic summary.jsonl, lm-eval output folders. The token comes "
        "from HF_TOKEN (or `hf auth login`); HF_ENDPOINT selects another Hub.",
    )
    # --org is required with inputs only, and --private/--public exclude each other
    flags.add_config_flags(
        parser, PublishConfig, skip=("org", "private"), positional=("inputs",),
        extra_help={"inputs": "(e.g. data/ students/ scores/ metrics/ evals/)"},
    )  # fmt: skip
    parser.add_argument(
        "--org", default=argparse.SUPPRESS, help=flags.field_help(PublishConfig, "org")
    )
    parser.add_argument(
        "--metric-space",
        default=None,
        metavar="ORG/NAME",
        help="also (or only, without inputs) push the PG-Score `evaluate` metric as a Space",
    )
    visibility = parser.add_mutually_exclusive_group()
    visibility.add_argument(
        "--private", dest="private", action="store_const", const=True,
        default=argparse.SUPPRESS, help=flags.field_help(PublishConfig, "private"),
    )  # fmt: skip
    visibility.add_argument(
        "--public", dest="private", action="store_const", const=False,
        default=argparse.SUPPRESS, help="make every repo public",
    )  # fmt: skip
    parser.set_defaults(run=one_line_errors(run))
    return parser


def run(args: argparse.Namespace) -> int:
    """Publish (or dry-run) and print what happened."""
    from harness.errors import ConfigError
    from harness.publish import PublishConfig, publish
    from harness.publish.metric_space import MetricSpaceConfig

    inputs = getattr(args, "inputs", None)
    metric = None
    if args.metric_space is not None:
        # the visibility, dry-run and retry flags are PublishConfig's and MetricSpaceConfig's
        metric = flags.build(MetricSpaceConfig, args, repo_id=args.metric_space)
    elif not inputs:
        raise ConfigError("publish needs input folders (data/ scores/ ...) or --metric-space")
    if not inputs:
        _publish_metric(metric)
        return 0
    report = publish(flags.build(PublishConfig, args, org=getattr(args, "org", None)))
    print(report.summary())
    if metric is not None:
        _publish_metric(metric)
    return 0


def _publish_metric(config: MetricSpaceConfig) -> None:
    """Push (or list, on a dry run) the metric Space and say what happened."""
    from harness.publish.metric_space import plan_metric_space, publish_metric_space

    planned = plan_metric_space(config)
    if config.dry_run:
        print(f"would publish space {planned.repo_id} ({planned.note}):")
        print("\n".join(f"    {name}" for name in planned.files))
        return
    revision = publish_metric_space(config)
    print(f"  metric space {config.repo_id} @ {revision[:10]}")
