"""Publish stage: datasets, students, lm-eval results, the leaderboard dataset and Space.

Every Hub call is retried on transient errors and reported as one-line
:class:`harness.errors.HubError` otherwise; the token never reaches a log, a card or
an exception. Heavy imports (datasets, huggingface_hub) happen inside the functions.
"""

from harness.publish.plan import PublishInputs, RepoNames, discover_inputs
from harness.publish.retry import RetryPolicy, hub_call, scrub
from harness.publish.run import PublishConfig, PublishReport, publish

__all__ = [
    "PublishConfig",
    "PublishInputs",
    "PublishReport",
    "RepoNames",
    "RetryPolicy",
    "discover_inputs",
    "hub_call",
    "publish",
    "scrub",
]
