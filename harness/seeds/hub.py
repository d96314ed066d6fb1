"""Publish built seed pools to the Hugging Face Hub."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from harness.errors import HubError

if TYPE_CHECKING:
    import datasets


def push_to_hub(
    dsets: Mapping[str, datasets.Dataset],
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
) -> None:
    """Publish the seeds as one Hub dataset with a config per language."""
    for code, dset in dsets.items():
        try:
            dset.push_to_hub(repo_id, config_name=code, split="train", private=private, token=token)
        except Exception as exc:
            raise HubError(f"pushing seeds for {code!r} to {repo_id} failed: {exc}") from exc
