"""``polyglot-harness publish``: push a run's datasets, students, results and leaderboard."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.publish.metric_space import MetricSpaceConfig


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``publish``."""
    parser = subparsers.add_parser(
        "publish",
        help="publish datasets, students, lm-eval results and the leaderboard to the Hub",
        description="Push one dataset repo per teacher (a config per language), one model "
        "repo per student, the lm-eval results/details, a leaderboard dataset and its Space. "
        "Inputs are recognised by their content: collected data, student run folders, "
        "scores.jsonl, an intrinsic summary.jsonl, lm-eval output folders. The token comes "
        "from HF_TOKEN (or `hf auth login`); HF_ENDPOINT selects another Hub.",
    )
    parser.add_argument("inputs", nargs="*", help="e.g. data/ students/ scores/ metrics/ evals/")
    parser.add_argument(
        "--org", default=None, help="Hub user or organisation owning the repos (with inputs)"
    )
    parser.add_argument(
        "--metric-space",
        default=None,
        metavar="ORG/NAME",
        help="also (or only, without inputs) push the PG-Score `evaluate` metric as a Space",
    )
    visibility = parser.add_mutually_exclusive_group()
    visibility.add_argument(
        "--private",
        dest="private",
        action="store_const",
        const=True,
        default=None,
        help="make every repo private (default: new repos private, existing ones unchanged)",
    )
    visibility.add_argument(
        "--public", dest="private", action="store_const", const=False, help="make repos public"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace leaderboard rows already published with different values",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="list repos, files and row counts; push nothing"
    )
    parser.add_argument("--no-space", action="store_true", help="do not push the leaderboard Space")
    parser.add_argument("--license", default="other", help="dataset card license (default: other)")
    parser.add_argument("--retries", type=int, default=5, help="tries per Hub call (default: 5)")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Publish (or dry-run) and print what happened; errors are one line."""
    from harness.errors import ConfigError, HarnessError
    from harness.publish import PublishConfig, publish
    from harness.publish.metric_space import MetricSpaceConfig

    try:
        metric = None
        if args.metric_space is not None:
            metric = MetricSpaceConfig(
                repo_id=args.metric_space, private=args.private, dry_run=args.dry_run,
                retries=args.retries,
            )  # fmt: skip
        elif not args.inputs:
            raise ConfigError("publish needs input folders (data/ scores/ ...) or --metric-space")
        if not args.inputs:
            _publish_metric(metric)
            return 0
        config = PublishConfig(
            org=args.org,
            inputs=list(args.inputs),
            private=args.private,
            force=args.force,
            dry_run=args.dry_run,
            space=not args.no_space,
            license=args.license,
            retries=args.retries,
        )
        report = publish(config)
        print(report.summary())
        if metric is not None:
            _publish_metric(metric)
    except HarnessError as exc:
        print(f"polyglot-harness publish: {exc}", file=sys.stderr)
        return 2
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
