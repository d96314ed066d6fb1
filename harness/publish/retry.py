"""Every Hub call of the publish stage goes through :func:`hub_call`.

Why one wrapper: a publish run makes dozens of calls over minutes, so a 429 or a 503 is
expected, and must cost a pause, not the run; anything else (no permission, no such
repo, invalid metadata) will not get better by waiting and must stop the run with one
line that names the repo and the cause. That line, and every log line, is scrubbed of
the token: huggingface_hub error messages can quote request details.

Why tenacity and not huggingface_hub's ``http_backoff``: that retries one raw HTTP
request, while our calls are ``HfApi`` / ``datasets`` methods that each make several
requests, so the retry must wrap the whole call.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from harness.errors import ConfigError, HubError

logger = logging.getLogger(__name__)

T = TypeVar("T")
TRANSIENT_STATUS: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504})
# httpx transport failures (huggingface_hub uses an httpx fork; matched by name so this
# module does not depend on which one) and the built-ins they may surface as.
_TRANSIENT_TYPES = frozenset(
    {"TransportError", "TimeoutException", "NetworkError", "RemoteProtocolError"}
)
REDACTED = "<redacted>"


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff for transient Hub errors: ``base * 2**attempt`` seconds, capped."""

    attempts: int = field(default=5, metadata={"help": "tries before a transient error is final"})
    base_delay: float = field(default=1.0, metadata={"help": "first pause, seconds"})
    max_delay: float = field(default=30.0, metadata={"help": "longest pause, seconds"})

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base_delay < 0 or self.max_delay < 0:
            raise HubError("RetryPolicy: attempts must be >= 1 and delays >= 0")

    def delay(self, attempt: int) -> float:
        """The pause before try ``attempt + 1`` (jittered so parallel runs spread out)."""
        return min(self.max_delay, self.base_delay * 2**attempt) * (1 + random.random() / 4)


@dataclass(kw_only=True)
class HubAccess:
    """How a push talks to the Hub: the settings every push config shares.

    Why a base class: ``publish`` and its ``--metric-space`` push take the same
    visibility, dry-run, endpoint and retry flags; one definition keeps their help and
    checks from drifting apart. The token is never a field: ``HF_TOKEN`` or the login.
    """

    private: bool | None = field(
        default=None,
        metadata={"help": "True/False force visibility; None: new repos private, others kept"},
    )
    dry_run: bool = field(default=False, metadata={"help": "list what would be pushed, push nothing"})  # fmt: skip
    endpoint: str | None = field(default=None, metadata={"help": "Hub URL (default: HF_ENDPOINT)"})
    retries: int = field(default=5, metadata={"help": "tries per Hub call on transient errors"})
    retry_delay: float = field(default=1.0, metadata={"help": "first backoff pause, seconds"})

    def __post_init__(self) -> None:
        if self.retries < 1 or self.retry_delay < 0:
            raise ConfigError("retries must be >= 1 and retry_delay >= 0")

    def retry_policy(self) -> RetryPolicy:
        """The backoff every Hub call of this push uses."""
        return RetryPolicy(attempts=self.retries, base_delay=self.retry_delay)


def scrub(text: str, token: str | None) -> str:
    """``text`` with the token (and its ``Bearer`` form) replaced."""
    if token:
        text = text.replace(token, REDACTED)
    return text


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of a huggingface_hub error, if it carries a response."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def is_transient(exc: BaseException) -> bool:
    """Whether waiting may fix ``exc``: rate limits, server errors, dropped connections."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:  # datasets wraps the client's errors
        seen.add(id(exc))
        status = status_of(exc)
        if status is not None:
            return status in TRANSIENT_STATUS
        names = {cls.__name__ for cls in type(exc).__mro__}
        if names & _TRANSIENT_TYPES or isinstance(exc, (ConnectionError, TimeoutError)):
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


def hub_error(exc: BaseException, *, repo_id: str, action: str, token: str | None) -> HubError:
    """A one-line :class:`HubError` naming the repo, the action and the cause."""
    status = status_of(exc)
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    cause = lines[0] if lines else type(exc).__name__
    hint = {
        401: "; check HF_TOKEN (not logged in or token invalid)",
        403: "; the token cannot write there (needs a write token with access to the org)",
        404: "; check the org name and that the token can see it",
    }.get(status or 0, "")
    message = scrub(f"{action} {repo_id} failed: {cause}{hint}", token)
    error = HubError(message)
    error.repo_id = repo_id  # type: ignore[attr-defined]
    error.status = status  # type: ignore[attr-defined]
    return error


def hub_call(
    fn: Callable[[], T],
    *,
    repo_id: str,
    action: str,
    token: str | None,
    policy: RetryPolicy | None = None,
) -> T:
    """Run ``fn`` with retries on transient errors; raise :class:`HubError` otherwise.

    The retry loop is tenacity's; what stays ours is the decision (:func:`is_transient`),
    the pause (:meth:`RetryPolicy.delay`) and the scrubbed one-line error.

    Args:
        fn: the Hub call, with its arguments bound (a lambda).
        repo_id: the repo it acts on, for the error message.
        action: what it does ("push dataset", "upload model"), for the message.
        token: the token in use, scrubbed from every message.
        policy: backoff settings (default: 5 tries, 1 s doubling).

    Raises:
        HubError: a non-transient error, or a transient one on the last try; its
        ``__cause__`` is cleared so a traceback cannot quote the token either.
    """
    import tenacity

    policy = policy or RetryPolicy()

    def log_retry(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        logger.warning(
            "%s %s: transient error (%s), retrying in %.1f s (%d/%d)",
            action,
            repo_id,
            scrub(str(status_of(exc) or type(exc).__name__), token),
            state.next_action.sleep if state.next_action else 0.0,
            state.attempt_number,
            policy.attempts - 1,
        )

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.attempts),
        wait=lambda state: policy.delay(state.attempt_number - 1),
        retry=tenacity.retry_if_exception(
            lambda exc: not isinstance(exc, HubError) and is_transient(exc)
        ),
        before_sleep=log_retry,
        reraise=True,  # the last error itself, not tenacity's RetryError, reaches us
    )
    try:
        return retrying(fn)
    except HubError:
        raise
    except Exception as exc:
        raise hub_error(exc, repo_id=repo_id, action=action, token=token) from None
