"""Check that a model will load before any work starts, failing with one line that says why.

A Hub id that does not resolve used to surface as a 50-line ``OSError`` traceback from
``from_pretrained``, after data had been read, folders made and other models loaded. These
checks run first and cost at most one metadata request: a local folder or a model already
in the Hugging Face cache passes without touching the network.
"""

from __future__ import annotations

import difflib
import logging
from pathlib import Path

from harness.errors import ConfigError, InputNotFoundError, MissingRequirementError

logger = logging.getLogger(__name__)

# Files whose presence in the HF cache means a repo was downloaded (model or tokenizer).
_CACHE_MARKERS = ("config.json", "tokenizer_config.json", "modules.json")
# A saved model or tokenizer folder holds one of these (save_pretrained writes them).
_FOLDER_MARKERS = ("config.json", "tokenizer_config.json", "tokenizer.json", "modules.json")
# lm-eval model types that need an optional package, and how to install it.
_INSTALL_HINTS = {
    "vllm": "pip install 'polyglot-harness[vllm]'",
    "sglang": "pip install sglang",
    "tenacity": "pip install 'lm-eval[api]'",
}
_HUB_TIMEOUT_S = 10.0


def _looks_like_path(ref: str) -> bool:
    return ref.startswith(("/", "./", "../", "~", ".\\")) or ref.count("/") > 1


def _in_hf_cache(repo_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    for name in _CACHE_MARKERS:
        try:
            found = try_to_load_from_cache(repo_id, name)
        except ValueError:  # not a valid repo id
            return False
        if isinstance(found, str):
            return True
    return False


def check_model(ref: str, *, role: str, flag: str, note: str = "") -> None:
    """Make sure ``ref`` (a model folder, a Hub id or ``embedded:...``) can be loaded.

    Args:
        ref: what will be passed to ``from_pretrained``.
        role: what the model is for, for the message (``"student"``, ``"reference LM"``).
        flag: the option that sets it, so the message can say what to change.
        note: said right after the name, e.g. why a name was taken as a model id.

    Raises:
        InputNotFoundError: a folder that does not exist; a Hub id that is not in the
            local cache and that the Hub does not know, cannot be reached for, or that
            offline mode forbids fetching.
        ConfigError: neither a folder nor a valid Hub id.
    """
    from harness.models.embedded import check_embedded, is_embedded

    if is_embedded(ref):
        check_embedded(ref)
        return
    fix = f"pass an existing folder or Hub id with {flag}"
    name = f"{role} {ref!r}{note}"
    local = Path(ref).expanduser()
    if local.is_dir() and not any((local / m).is_file() for m in _FOLDER_MARKERS):
        raise InputNotFoundError(
            f"{name} is a folder without {' or '.join(_FOLDER_MARKERS)}: not a saved model; {fix}"
        )
    if local.exists():
        return
    if _looks_like_path(ref):
        raise InputNotFoundError(f"{name}: no such model folder; {fix}")
    from huggingface_hub import constants
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(ref)
    except HFValidationError:
        raise ConfigError(f"{name} is neither a model folder nor a Hub id; {fix}") from None
    if _in_hf_cache(ref):
        return
    download = f"download it first (`hf download {ref}`) or {fix}"
    if constants.HF_HUB_OFFLINE:
        raise InputNotFoundError(
            f"{name} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set; {download}"
        )
    _ask_hub(ref, name=name, fix=fix, download=download)


def _ask_hub(ref: str, *, name: str, fix: str, download: str) -> None:
    """One metadata request: does the Hub know ``ref`` (with the ambient token)?"""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        HfApi().model_info(ref, timeout=_HUB_TIMEOUT_S)
    except GatedRepoError:
        raise InputNotFoundError(
            f"{name} is gated on the Hugging Face Hub: accept its terms there and set "
            f"HF_TOKEN, or {fix}"
        ) from None
    except RepositoryNotFoundError:
        raise InputNotFoundError(
            f"{name} does not exist on the Hugging Face Hub (or is private: set HF_TOKEN); {fix}"
        ) from None
    except Exception as exc:  # network failures come from several libraries
        logger.debug("Hub lookup of %s failed: %r", ref, exc)
        raise InputNotFoundError(
            f"{name} is not in the local Hugging Face cache and the Hub could not be "
            f"reached ({type(exc).__name__}); {download}"
        ) from None


def check_lm_eval_model(model: str, model_args: str, *, role: str, flag: str) -> None:
    """Make sure an lm-eval backend exists, its package is installed and its weights resolve.

    Raises:
        ConfigError: lm-eval has no model type ``model`` (the nearest names suggested).
        MissingRequirementError: the backend's package is missing (with the install command).
        InputNotFoundError: ``pretrained=`` names a model that does not resolve.
    """
    from lm_eval.api.registry import get_model, model_registry

    from harness.naming import parse_model_args

    try:
        get_model(model)
    except ModuleNotFoundError as exc:
        package = (exc.name or model).split(".")[0]
        hint = _INSTALL_HINTS.get(package, f"pip install {package}")
        raise MissingRequirementError(
            f"{role} backend {model!r} needs the package {package!r}, which is not installed: "
            f"{hint}, or pick another backend with {flag}"
        ) from None
    except (ValueError, KeyError):
        known = sorted(model_registry.keys())
        close = difflib.get_close_matches(model, known, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(known)}"
        raise ConfigError(f"{role}: lm-eval has no model type {model!r} ({flag}); {hint}") from None
    pretrained = parse_model_args(model_args).get("pretrained")
    if pretrained:
        check_model(pretrained, role=f"{role} {model}:pretrained", flag=flag)
