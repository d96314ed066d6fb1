"""The publish stage: datasets, students, lm-eval results, leaderboard and Space.

Order matters: datasets first (students' cards link their revision), then students
(leaderboard rows link theirs), then results, then the leaderboard and its Space. The
leaderboard's ``--force`` check runs before the first write, so a refused publish
leaves the Hub untouched.

A ``costs.json`` beside the published ``scores.jsonl`` (the grid's measured hours per
teacher) is read and checked before the dry-run listing, so a malformed one stops the
run before any request; its figures ride on the leaderboard rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from harness.errors import ConfigError, HubError
from harness.publish.datasets import PushedDataset, plan_datasets, publish_datasets
from harness.publish.leaderboard import (
    build_rows,
    check_conflicts,
    merge_rows,
    plan_leaderboard,
    publish_leaderboard,
    read_published,
)
from harness.publish.models import PushedModel, plan_students, publish_students
from harness.publish.plan import PlannedRepo, PublishInputs, RepoNames, describe, discover_inputs
from harness.publish.results import PushedResults, plan_results, publish_results
from harness.publish.retry import HubAccess

logger = logging.getLogger(__name__)


@dataclass
class PublishConfig(HubAccess):
    """One publish run; visibility, dry run, endpoint and retries are :class:`HubAccess`'s."""

    org: str = field(metadata={"help": "Hub user or organisation that will own every repo"})
    inputs: list[str] = field(
        default_factory=list,
        metadata={"help": "collected data, student runs, scores, metrics or lm-eval folders"},
    )
    force: bool = field(
        default=False, metadata={"help": "replace published leaderboard rows with new values"}
    )
    space: bool = field(default=True, metadata={"help": "also push the leaderboard Space"})
    license: str = field(default="other", metadata={"help": "license of the dataset cards"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.org or "/" in self.org:
            raise ConfigError(f"--org must be a Hub user or organisation name, got {self.org!r}")
        if not self.inputs:
            raise ConfigError("publish needs at least one input folder (data, students, scores)")


@dataclass
class PublishReport:
    """What a publish run did (or, with ``dry_run``, would do)."""

    planned: list[PlannedRepo]
    dry_run: bool
    private: bool
    datasets: list[PushedDataset] = field(default_factory=list)
    models: list[PushedModel] = field(default_factory=list)
    results: PushedResults | None = None
    leaderboard_revision: str | None = None
    space_revision: str | None = None
    leaderboard_rows: int = 0
    replaced: list[tuple[str, ...]] = field(default_factory=list)

    def summary(self) -> str:
        """A human summary: the plan for a dry run, the repos and revisions otherwise."""
        if self.dry_run:
            return describe(self.planned, private=self.private)
        lines = [f"published {len(self.planned)} repos ({'private' if self.private else 'public'}):"]  # fmt: skip
        seen = set()
        for item in [*self.datasets, *self.models]:
            if item.repo_id not in seen:
                seen.add(item.repo_id)
                lines.append(f"  {item.repo_id} @ {item.revision[:10]}")
        if self.results:
            lines.append(f"  {self.results.repo_id} @ {self.results.revision[:10]}")
        if self.leaderboard_revision:
            lines.append(
                f"  leaderboard: {self.leaderboard_rows} rows @ {self.leaderboard_revision[:10]}"
                + (f", space @ {self.space_revision[:10]}" if self.space_revision else "")
            )
        if self.replaced:
            lines.append(f"  replaced {len(self.replaced)} leaderboard rows (--force)")
        return "\n".join(lines)


def plan_publish(
    inputs: PublishInputs, names: RepoNames, n_scores: int, *, space: bool
) -> list[PlannedRepo]:
    """Every repo the run writes, in push order."""
    planned = plan_datasets(inputs.datasets, names) + plan_students(inputs.students, names)
    planned += plan_results(inputs.evals, names)
    if n_scores:
        planned += plan_leaderboard(n_scores, names, space=space)
    return planned  # fmt: skip


def _check_endpoint(endpoint: str) -> None:
    """``datasets.push_to_hub`` only follows ``HF_ENDPOINT``; refuse a split publish.

    Without this, ``endpoint=`` would send models and the leaderboard to one Hub and the
    synthetic data to another (huggingface.co, with the account's default visibility).
    """
    from huggingface_hub import constants

    env_endpoint = str(constants.ENDPOINT).rstrip("/")
    if env_endpoint != endpoint.rstrip("/"):
        raise ConfigError(
            f"endpoint {endpoint} differs from HF_ENDPOINT {env_endpoint}: set "
            "HF_ENDPOINT instead, so datasets are pushed to the same Hub"
        )


def publish(config: PublishConfig, *, token: str | None = None) -> PublishReport:
    """Publish a run's artefacts to the Hub (or, with ``dry_run``, list them).

    Args:
        config: what to publish and how.
        token: a Hub token; default ``HF_TOKEN`` or the stored login. Never logged.

    Raises:
        HubError: no token, a lasting Hub failure, or a leaderboard row that would
            change without ``force``; the message is one line without the token.
        InputNotFoundError, ConfigError: an input is missing or not publishable.
    """
    from harness.intrinsic.run import read_summary
    from harness.publish.session import open_session
    from harness.score.costs import read_costs
    from harness.score.intervals import read_intervals
    from harness.score.pgscore import read_scores
    from harness.train.card import harness_version

    inputs = discover_inputs(config.inputs)
    scores: list[Any] = read_scores(inputs.scores) if inputs.scores else []
    costs = read_costs(inputs.scores) if inputs.scores else None
    intervals = read_intervals(inputs.scores, scores) if inputs.scores else None
    intrinsic = read_summary(inputs.metrics) if inputs.metrics else []
    version = harness_version()
    names = RepoNames(config.org)
    planned = plan_publish(inputs, names, len(scores), space=config.space)
    private = config.private is not False
    report = PublishReport(planned, config.dry_run, private)
    if config.dry_run:
        return report
    session = open_session(
        config.org,
        token=token,
        endpoint=config.endpoint,
        private=config.private,
        policy=config.retry_policy(),
    )
    if not session.token:
        raise HubError("no Hub token: export HF_TOKEN=<a write token> or run `hf auth login`")
    _check_endpoint(session.endpoint)
    published: list[dict[str, Any]] = []
    if scores:
        published = read_published(session)
        preview = build_rows(
            scores, datasets=[], models=[], results_repo=None, harness_version=version,
            costs=costs, intervals=intervals,
        )  # fmt: skip
        report.replaced = check_conflicts(published, preview, force=config.force)  # fmt: skip
    report.datasets = publish_datasets(
        session, inputs.datasets, intrinsic=intrinsic, license=config.license, harness_version=version
    )  # fmt: skip
    report.models = publish_students(
        session, inputs.students, datasets=report.datasets, scores=scores, evals=inputs.evals
    )
    report.results = publish_results(session, inputs.evals)
    if scores:
        rows = build_rows(
            scores,
            datasets=report.datasets,
            models=report.models,
            results_repo=report.results.repo_id if report.results else None,
            harness_version=version,
            costs=costs,
            intervals=intervals,
        )
        merged = merge_rows(published, rows)
        report.leaderboard_rows = len(merged)
        report.leaderboard_revision, report.space_revision = publish_leaderboard(
            session, merged, space=config.space
        )
    return report
