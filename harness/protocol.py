"""Which protocol a run follows: the paper's, or the paper's with named corrections.

A PG-Score is only comparable with the paper's table when everything upstream of the
scorer ran as the paper ran (METHOD.md, "Protocol facts from the paper's released
code"). Some of those facts are flaws; correcting one changes the numbers. So the
protocol is one value, spelled as a string so that it travels unchanged through YAML,
CLI flags, lm-eval ``--metadata`` and every artefact:

* ``paper``: every fact as the paper's code ran, flaws included (the default);
* ``corrected``: ``paper`` with every correction below;
* ``paper+greedy_mgsm+per_row_fluency``: ``paper`` with the named corrections only.

Two artefacts are comparable when their canonical protocol strings are equal; the scorer
refuses to rank rows of different protocols together. Facts the two protocols share
(prompt structure, subsample sizes, sampling settings) are constants here, so that no
stage restates them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.errors import ConfigError

PAPER = "paper"
CORRECTED = "corrected"
DEFAULT = PAPER

# name -> why the paper's behaviour is corrected (docs/PROTOCOL.md has the long form).
CORRECTIONS: dict[str, str] = {
    "per_row_fluency": "the paper gives every row of a batch the batch's mean loss, pad "
    "tokens included; per-row perplexity comes from each row's own token losses",
    "langid_validity": "the paper never checks the output's language; a row not in the "
    "target language is invalid",
    "refusal_filter": "the paper keeps refusals as training data; a refusal is invalid",
    "exclude_unparseable_judgements": "the paper scores an unparseable judgement 1; "
    "it is counted and left out of the mean instead",
    "greedy_mgsm": "the paper samples MGSM answers (T 0.6, top_p 0.95), so one run's "
    "accuracy is one draw; greedy decoding is deterministic",
    "ordered_rewardbench": "the paper places the chosen answer as A or B with an unseeded "
    "shuffle; the position is a pure function of the item instead",
    "present_sections_rewardbench": "the paper divides the sum of section accuracies by 4 "
    "even when a section is absent; the mean is over the sections present",
    "assistant_only_loss": "the paper trains on the whole rendered conversation; only the "
    "assistant's tokens carry labels instead",
}

# ---- facts both protocols share (METHOD.md) ------------------------------------------
DOCUMENTS_PER_STRATEGY = 10_000  # generation documents per (teacher, language, strategy)
SERVING_CONTEXT = 4_096  # the paper's generation cap is the serving context, no cap below
GENERATION_SAMPLING: dict[str, Any] = {"do_sample": True, "temperature": 0.8, "top_p": 0.9}
TRAIN_PER_STRATEGY = 3_500  # 10,500 per (teacher, language); shortfall to the largest
TRAIN_SUBSAMPLE_SEED = 3407
INTRINSIC_SUBSAMPLE = 10_000  # balanced over strategies (3,333 each), fixed seed
INTRINSIC_SUBSAMPLE_SEED = 3407
MGSM_SAMPLING: dict[str, Any] = {"do_sample": True, "temperature": 0.6, "top_p": 0.95}
MGSM_GREEDY: dict[str, Any] = {"do_sample": False, "temperature": 0.0}
# The pair object every generate/translate output must be; schema-guided decoding
# (xgrammar for hf, structured outputs for vLLM, response_format for APIs) enforces it.
PAIR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"prompt": {"type": "string"}, "response": {"type": "string"}},
    "required": ["prompt", "response"],
    "additionalProperties": False,
}
SCHEMA_DOC_KEY = "json_schema"  # a generation doc that carries this key asks for JSON


@dataclass(frozen=True)
class Protocol:
    """A resolved protocol: its canonical name and the corrections it applies."""

    name: str
    corrections: frozenset[str]

    def corrects(self, correction: str) -> bool:
        """Whether ``correction`` (a key of :data:`CORRECTIONS`) is on."""
        if correction not in CORRECTIONS:
            raise KeyError(f"unknown correction {correction!r}")  # a typo in our own code
        return correction in self.corrections

    @property
    def is_paper(self) -> bool:
        return not self.corrections

    def record(self, deviations: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """What artefacts store: the name, the corrections, and settings off the protocol.

        ``deviations`` are settings a run chose that the protocol fixes otherwise (the
        demo's documents per task, a token cap): recorded, never silently equal.
        """
        return {
            "name": self.name,
            "corrections": sorted(self.corrections),
            "deviations": dict(sorted((deviations or {}).items())),
        }

    def __str__(self) -> str:
        return self.name


def _canonical(corrections: Iterable[str]) -> str:
    chosen = set(corrections)
    if not chosen:
        return PAPER
    if chosen == set(CORRECTIONS):
        return CORRECTED
    return "+".join([PAPER, *sorted(chosen)])


def resolve(value: str | Protocol | None = None) -> Protocol:
    """Parse ``paper``, ``corrected`` or ``paper+<correction>+...`` (also ``corrected-<x>``).

    ``corrected-greedy_mgsm`` is ``corrected`` without that one correction, for a user
    who wants every correction but one. Raises :class:`ConfigError` naming the bad part.
    """
    if isinstance(value, Protocol):
        return value
    text = (value if value is not None else DEFAULT).strip()
    if not text:
        text = DEFAULT
    if text in (PAPER, CORRECTED):
        chosen = set() if text == PAPER else set(CORRECTIONS)
    elif text.startswith(PAPER + "+"):
        chosen = {part.strip() for part in text.split("+")[1:]}
    elif text.startswith(CORRECTED + "-"):
        chosen = set(CORRECTIONS) - {part.strip() for part in text.split("-", 1)[1].split("-")}
        _check_names({part.strip() for part in text.split("-", 1)[1].split("-")}, text)
    else:
        raise ConfigError(
            f"unknown protocol {text!r}: use {PAPER}, {CORRECTED}, "
            f"{PAPER}+<correction>... or {CORRECTED}-<correction>"
        )
    _check_names(chosen, text)
    return Protocol(name=_canonical(chosen), corrections=frozenset(chosen))


def _check_names(names: Iterable[str], text: str) -> None:
    import difflib

    for name in names:
        if name not in CORRECTIONS:
            close = difflib.get_close_matches(name, list(CORRECTIONS), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(
                f"unknown correction {name!r} in protocol {text!r}{hint}; "
                f"known: {', '.join(CORRECTIONS)}"
            )


def name_of(record: Any) -> str | None:
    """The canonical protocol name an artefact recorded (a record dict or a string)."""
    if record is None:
        return None
    if isinstance(record, Mapping):
        record = record.get("name")
        if record is None:
            return None
    return resolve(str(record)).name


def check_same(named: Mapping[str, Any], what: str = "rows") -> str | None:
    """The one protocol of ``named`` (source -> record), or ConfigError naming two that differ.

    Sources that recorded no protocol (files written before protocols existed) are
    reported too: their protocol is unknown, so they cannot be ranked with known ones.
    """
    seen: dict[str, str] = {}
    for source, record in named.items():
        seen.setdefault(name_of(record) or "unrecorded", source)
    if len(seen) > 1:
        (a, src_a), (b, src_b) = list(seen.items())[:2]
        raise ConfigError(
            f"{what} of different protocols cannot be ranked together: {src_a} is "
            f"{a!r}, {src_b} is {b!r}; rerun one of them under the other's protocol"
        )
    return next(iter(seen), None) if seen and "unrecorded" not in seen else None


__all__ = [
    "CORRECTED",
    "CORRECTIONS",
    "DEFAULT",
    "DOCUMENTS_PER_STRATEGY",
    "GENERATION_SAMPLING",
    "INTRINSIC_SUBSAMPLE",
    "INTRINSIC_SUBSAMPLE_SEED",
    "MGSM_GREEDY",
    "MGSM_SAMPLING",
    "PAIR_SCHEMA",
    "PAPER",
    "SCHEMA_DOC_KEY",
    "SERVING_CONTEXT",
    "TRAIN_PER_STRATEGY",
    "TRAIN_SUBSAMPLE_SEED",
    "Protocol",
    "check_same",
    "name_of",
    "resolve",
]
