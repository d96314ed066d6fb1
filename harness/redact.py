"""Keep credentials out of everything the harness writes: datasets, progress files, repos.

lm-eval records ``model_args`` verbatim, and API backends accept keys and URLs with
credentials there. One scrubber serves collect, the generation runner and publish.
"""

from __future__ import annotations

import re
from typing import Any

from harness.naming import parse_model_args

# Whole key names (or their last ``_`` part): api_key, token, hf_token, secret, password,
# auth... but not tokenizer= or max_tokens=.
_SECRET_KEY = re.compile(
    r"(^|[_-])(api[_-]?key|key|token|secret|password|passwd|auth|authorization|credentials?)$",
    re.IGNORECASE,
)
_URL_CREDENTIALS = re.compile(r"(?<=//)[^/@\s,]+@")


def is_secret_key(key: str) -> bool:
    """Whether a ``model_args`` key names a credential."""
    return bool(_SECRET_KEY.search(key.strip()))


def scrub_model_args(model_args: Any) -> str:
    """``model_args`` (string or mapping) without secret keys or URL credentials."""
    kept = [
        f"{k}={_URL_CREDENTIALS.sub('<redacted>@', v)}"
        for k, v in parse_model_args(model_args).items()
        if k and not is_secret_key(k)
    ]
    return ",".join(kept)
