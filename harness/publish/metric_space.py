"""Publish a shipped ``evaluate`` metric module as a Hub Space.

Why a Space: that is how ``evaluate`` metrics live on the Hub (a Gradio Space holding
``<name>.py``, its metric card ``README.md``, ``app.py`` and ``requirements.txt``), so
``evaluate.load("ORG/NAME")`` finds the PG-Score online as it finds ``accuracy``, and
the card's ``evaluate`` / ``metric`` tags list it among the Hub's metrics.

The pushed ``requirements.txt`` pins the ``polyglot-harness`` version that published
it: the module imports the scorer from the harness, so the Space computes exactly what
this version's ``polyglot-harness score`` computes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import ConfigError, HubError
from harness.publish.plan import PlannedRepo
from harness.publish.retry import HubAccess

SPACE_SUFFIXES = (".py", ".md", ".txt")  # what a metric folder ships; caches stay home
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
_HARNESS_REQUIREMENT = re.compile(r"^polyglot-harness\b.*$", re.MULTILINE)


@dataclass
class MetricSpaceConfig(HubAccess):
    """One metric Space push; visibility, dry run, endpoint and retries are :class:`HubAccess`'s."""

    repo_id: str = field(metadata={"help": "the Space to create or update, ORG/NAME"})
    metric: str = field(default="pg_score", metadata={"help": "shipped metric module to push"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.repo_id, str) or not _REPO_ID.match(self.repo_id):
            raise ConfigError(
                f"--metric-space must be ORG/NAME (e.g. my-org/pg-score), got {self.repo_id!r}"
            )


def metric_space_files(metric: str = "pg_score") -> dict[str, bytes]:
    """The Space's files: the metric folder as shipped, with the harness version pinned.

    Raises:
        InputNotFoundError: no such metric module.
    """
    from harness.metrics import path
    from harness.train.card import harness_version

    folder = Path(path(metric))
    files = {
        p.name: p.read_bytes()
        for p in sorted(folder.iterdir())
        if p.is_file() and p.suffix in SPACE_SUFFIXES
    }
    requirements = files.get("requirements.txt", b"").decode("utf-8")
    pinned = f"polyglot-harness=={harness_version()}"
    if _HARNESS_REQUIREMENT.search(requirements):
        requirements = _HARNESS_REQUIREMENT.sub(pinned, requirements)
    else:
        requirements = requirements.rstrip("\n") + ("\n" if requirements else "") + pinned + "\n"
    files["requirements.txt"] = requirements.encode("utf-8")
    return files


def plan_metric_space(config: MetricSpaceConfig) -> PlannedRepo:
    """What the push writes, for ``--dry-run``."""
    files = tuple(sorted(metric_space_files(config.metric)))
    return PlannedRepo(config.repo_id, "space", files, note=f"sdk: gradio, metric {config.metric}")


def publish_metric_space(config: MetricSpaceConfig, *, token: str | None = None) -> str | None:
    """Create (or update) the metric Space; returns its head commit (None on a dry run).

    Re-publishing an unchanged module creates no commit (the session's ``commit`` lets
    ``create_commit`` drop files the Hub already has).

    Raises:
        HubError: no token, or a lasting Hub failure (one line, without the token).
    """
    from harness.publish.session import open_session

    if config.dry_run:
        return None
    org = config.repo_id.split("/")[0]
    session = open_session(
        org, token=token, endpoint=config.endpoint, private=config.private,
        policy=config.retry_policy(),
    )  # fmt: skip
    if not session.token:
        raise HubError("no Hub token: export HF_TOKEN=<a write token> or run `hf auth login`")
    files = metric_space_files(config.metric)
    session.ensure_repo(config.repo_id, "space", space_sdk="gradio")
    return session.commit(config.repo_id, "space", files, f"Update the {config.metric} metric")
