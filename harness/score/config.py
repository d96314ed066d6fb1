"""The one configuration of the score stage: inputs, the gap rule and the bootstrap.

Why a dataclass: the ``score`` command's flags, its ``--config`` keys and their help are
derived from it (:mod:`harness.cli.flags`), and the gap rule's defaults are read from
:class:`~harness.score.pgscore.GapPolicy`, so each default is written once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from harness.errors import ConfigError
from harness.protocol import resolve
from harness.score.pgscore import GapPolicy

_GAP = {f.name: f.default for f in dataclasses.fields(GapPolicy)}
REPLICATES = 1000


@dataclass(frozen=True)
class ScoreConfig:
    """One scoring run: what is read, how gaps are judged, how intervals are drawn."""

    extrinsic: str = field(
        metadata={
            "help": "long-format extrinsic JSONL, an lm-eval output folder, or a folder of either"
        }
    )
    intrinsic: str | None = field(
        default=None,
        metadata={
            "help": "intrinsic metrics: the intrinsic stage's folder (summary.jsonl) or a "
            "JSONL file; without it z and PG are null"
        },
    )
    out: str = field(default="scores", metadata={"help": "output folder"})
    gap_k: float = field(
        default=_GAP["k"],
        metadata={"help": "a gap (reference - base) is ill-conditioned below k combined stderrs"},
    )
    gap_floor: float = field(
        default=_GAP["floor"],
        metadata={
            "help": "... or below this absolute floor, the only test when stderrs are missing"
        },
    )
    ceiling: float = field(
        default=_GAP["ceiling"], metadata={"help": "best possible score, for headroom gain"}
    )
    protocol: str | None = field(
        default=None,
        metadata={
            "help": "protocol the inputs must have recorded (paper, corrected, "
            "paper+<correction>...); default: any one protocol, which every score row "
            "then names"
        },
    )
    replicates: int = field(
        default=REPLICATES,
        metadata={"help": "bootstrap replicates for the intervals and rank stability (0: none)"},
    )
    seed: int = field(default=0, metadata={"help": "bootstrap seed"})

    def __post_init__(self) -> None:
        self.policy()  # a bad gap rule fails before any input is read
        if self.protocol is not None:  # so does a typo in the protocol
            object.__setattr__(self, "protocol", resolve(self.protocol).name)
        for name in ("replicates", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"field {name!r} is {value!r}; expected an integer >= 0")
        if self.replicates == 1:  # refused here, before any input is read or output written
            raise ConfigError(
                "replicates is 1, which gives no interval; use 0 (none) or at least 2"
            )

    def policy(self) -> GapPolicy:
        """The gap rule the scorer and the bootstrap apply."""
        return GapPolicy(k=self.gap_k, floor=self.gap_floor, ceiling=self.ceiling)
