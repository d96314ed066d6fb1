"""Keep credentials out of everything the harness writes: datasets, progress files, repos.

lm-eval records ``model_args`` verbatim (results files, the output folder's name, some
log lines), and API backends accept keys and URLs with credentials there. One rule,
here, says what a credential is; collect, the generation runner, the evaluate stage,
the teacher registry, the grid spec and publish all ask it, and
:func:`scrub_lm_eval_output` applies it to lm-eval's output before its writers run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from harness.naming import parse_model_args

REDACTED = "<redacted>"

# Whole key names (or their last ``_``/``-`` part): api_key, api-key, token, hf_token,
# secret, password, auth, bearer, sig... but not tokenizer= or max_tokens=.
_SECRET_KEY = re.compile(
    r"(^|[_-])(api[_-]?key|key|token|secret|password|passwd|auth|authorization|bearer"
    r"|credentials?|signature|sig)$",
    re.IGNORECASE,
)
# Credentials inside a value: ``scheme://user:pass@``, a query parameter such as
# ``?api-key=...`` or ``&token=...`` (kept only if its name passes the key rule above),
# and ``Bearer <token>``.
_IN_VALUE = re.compile(
    r"(?<=//)(?P<userinfo>[^/@\s,?#]+)@"
    r"|[?&;](?P<param>[^=&;#\s,/?]+)=(?P<query>[^&;#\s,]*)"
    r"|\bbearer\s+(?P<bearer>[^\s,;&]+)",
    re.IGNORECASE,
)
# Values too short or too common to be a credential: replacing "true" or "1" in every
# string of a results file would corrupt it and protect nothing.
_NOT_A_SECRET = frozenset({"true", "false", "none", "null", "yes", "no"})
_MIN_SECRET_LEN = 4


def is_secret_key(key: str) -> bool:
    """Whether a ``model_args`` key (or a URL query parameter) names a credential."""
    return bool(_SECRET_KEY.search(key.strip()))


def _secret_spans(value: str) -> Iterator[tuple[int, int]]:
    """Where credentials sit inside one value (URL user info, query secrets, bearer)."""
    for match in _IN_VALUE.finditer(value):
        if match.group("userinfo"):
            yield match.span("userinfo")
        elif match.group("bearer"):
            yield match.span("bearer")
        elif match.group("query") and is_secret_key(match.group("param")):
            yield match.span("query")


def scrub_value(value: str) -> str:
    """``value`` with URL credentials, secret query parameters and bearer tokens replaced."""
    for start, end in sorted(_secret_spans(value), reverse=True):
        value = value[:start] + REDACTED + value[end:]
    return value


def scrub_model_args(model_args: Any) -> str:
    """``model_args`` (string or mapping) without secret keys, and with values scrubbed."""
    kept = [
        f"{k}={scrub_value(v)}"
        for k, v in parse_model_args(model_args).items()
        if k and not is_secret_key(k)
    ]
    return ",".join(kept)


def secret_values(model_args: Any) -> list[str]:
    """The credentials in ``model_args``, longest first, to find them wherever echoed.

    Secret keys' whole values and the parts :func:`scrub_value` would replace; values
    under four characters or plain words like ``true`` are left out (see above).
    """
    found: set[str] = set()
    for key, value in parse_model_args(model_args).items():
        if is_secret_key(key):
            found.add(value)
        found.update(value[start:end] for start, end in _secret_spans(value))
    kept = (
        v for v in found if len(v) >= _MIN_SECRET_LEN and v.strip().lower() not in _NOT_A_SECRET
    )
    return sorted(kept, key=lambda v: (-len(v), v))


def redact_values(obj: Any, secrets: Iterable[str]) -> Any:
    """``obj`` with every occurrence of a secret in any string replaced.

    Belt and braces next to scrubbing ``model_args`` itself: lm-eval may echo model
    arguments elsewhere (model info, future fields), and a leak is never worth a miss.
    """
    secrets = [s for s in secrets if s]
    if not secrets:
        return obj
    if isinstance(obj, str):
        for secret in secrets:
            obj = obj.replace(secret, REDACTED)
        return obj
    if isinstance(obj, dict):
        return {k: redact_values(v, secrets) for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact_values(v, secrets) for v in obj]
    if isinstance(obj, tuple):
        return tuple(redact_values(v, secrets) for v in obj)
    return obj


def scrub_lm_eval_output(
    results: dict[str, Any],
    samples: dict[str, Any],
    tracker: Any,
    model_args: Any,
    *,
    fallback_name: str,
    results_name: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Make what lm-eval's ``EvaluationTracker`` is about to save free of credentials.

    Call it between ``simple_evaluate`` returning (with ``samples`` popped) and
    ``tracker.save_results_aggregated``: the results dictionary, the samples, and the
    tracker's model name, which also names the output sub-folder, are all rebuilt from
    the scrubbed arguments.

    Args:
        results: ``simple_evaluate``'s results without ``"samples"``.
        samples: the popped samples, by task.
        tracker: the ``EvaluationTracker`` that will write them.
        model_args: the arguments the model was really built with.
        fallback_name: model name when the scrubbed arguments name none (the backend).
        results_name: an existing sub-folder name to reuse instead of the derived one.

    Returns:
        The scrubbed results and samples, to pass to the tracker.
    """
    from lm_eval.loggers.evaluation_tracker import GeneralConfigTracker
    from lm_eval.utils import sanitize_model_name

    scrubbed = scrub_model_args(model_args)
    secrets = secret_values(model_args)
    results["config"]["model_args"] = scrubbed
    results = redact_values(results, secrets)
    samples = redact_values(samples, secrets)
    general = tracker.general_config_tracker
    general.model_name = GeneralConfigTracker._get_model_name(scrubbed) or fallback_name
    general.model_name_sanitized = results_name or sanitize_model_name(general.model_name)
    for name, value in vars(general).items():  # saved into the results file as they are
        if isinstance(value, str):
            setattr(general, name, redact_values(value, secrets))
    return results, samples
