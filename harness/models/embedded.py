"""Model references that name a model built or unpacked on this machine.

A grid file must name every model, but the offline grid's models are not on any hub:
SmolLM2 is unpacked from a wheel and the tiny Llamas are built from a seed. Writing
``embedded:smollm2`` or ``embedded:tiny-llama:7`` in a grid keeps the file portable (the
path is resolved on the machine that runs the job, in its own cache) and keeps the
job's fingerprint independent of where the cache lives.
"""

from __future__ import annotations

import fcntl
from pathlib import Path

from harness.errors import ConfigError

PREFIX = "embedded:"
KINDS = ("smollm2", "tiny-llama")


def is_embedded(ref: str) -> bool:
    return isinstance(ref, str) and ref.startswith(PREFIX)


def check_embedded(ref: str) -> None:
    """Validate a reference without building anything (grid files are checked up front).

    Raises:
        ConfigError: not ``embedded:smollm2`` or ``embedded:tiny-llama[:SEED]``.
    """
    kind, _, seed = ref[len(PREFIX) :].partition(":")
    if kind not in KINDS or (kind == "smollm2" and seed) or (seed and not seed.isdigit()):
        raise ConfigError(
            f"unknown embedded model {ref!r}; use embedded:smollm2 or embedded:tiny-llama:SEED"
        )


def resolve_model(ref: str) -> str:
    """A loadable id or path for ``ref``; anything not ``embedded:`` is returned unchanged.

    Building is guarded by a file lock, so parallel jobs that need the same tiny model
    build it once.
    """
    if not is_embedded(ref):
        return ref
    check_embedded(ref)
    from harness.models.cache import cache_dir

    kind, _, seed = ref[len(PREFIX) :].partition(":")
    lock_path = cache_dir() / f".{kind}-{seed or 0}.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if kind == "smollm2":
            from harness.models.smollm2 import smollm2_path

            return str(smollm2_path())
        from harness.models.tiny import build_tiny_model

        path: Path = build_tiny_model(
            cache_dir() / "tiny" / f"llama-seed{seed or 0}", seed=int(seed or 0)
        )
        return str(path)
