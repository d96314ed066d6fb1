"""The paper's Hub seed sources, as records, and how rows are read from each.

METHOD.md ("Seed data"): real runs draw seeds from WildChat, HelpSteer3 (multilingual),
EuroBlocks (non-Magpie rows) and the Aya Dataset; *respond* also uses oasst2 prompts and
*translate* uses English GSM8K and Magpie-Pro. Each source is one :class:`SeedSource`
record (data, not code branches), so a schema change on the Hub is a one-line fix and
a local copy in the same schema (``source_paths``) works behind a firewall and in tests.

WildChat is the 4.8M release and oasst2 gives every prompter message, not only the first
of each thread (METHOD.md, "Protocol facts"). Schemas were checked against the dataset
cards where the search index had them (WildChat-1M and 4.8M, HelpSteer3, Aya, oasst2,
Magpie-Pro); assumptions are noted per record. Which labels a source may use for a
language come from the language's record (``source_labels``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import ConfigError, HubError, InputNotFoundError
from harness.languages import SOURCE_LANGUAGE, get_language
from harness.schema import SeedRow
from harness.seeds.text import normalize_text

if TYPE_CHECKING:
    import datasets

_USER_ROLES = frozenset({"user", "human", "prompter"})
_ASSISTANT_ROLES = frozenset({"assistant", "gpt", "model", "bot"})


@dataclass(frozen=True)
class Rule:
    """A row condition on one column: ``eq`` value, ``is_null``, or ``not_contains`` text."""

    column: str
    op: str
    value: Any = None

    def test(self, cell: Any) -> bool:
        if self.op == "eq":
            return cell == self.value
        if self.op == "is_null":
            return cell is None
        if self.op == "not_contains":
            return str(self.value).lower() not in str(cell or "").lower()
        raise ConfigError(f"unknown rule op {self.op!r} on column {self.column!r}")


@dataclass(frozen=True)
class SeedSource:
    """How to read seed rows from one dataset.

    Attributes:
        name: what ``--sources`` and ``--source-path`` call it.
        short: prefix of the stable ``seed_id`` (``<short>-<sha1(prompt)[:10]>``).
        prompt_column: a text column, or a conversation column when ``turns`` is set.
        turns: the prompt is the first user turn of ``prompt_column``; the response is
            the assistant turn right after it (turns are ``role/content`` or
            ``from/value`` dicts).
        response_column: a text column holding the response (not with ``turns``).
        preference: HelpSteer3's ``(response1, response2, overall_preference)``: for a
            single-turn context the preferred response (ties: response1) is used.
        language_column: column holding the language as a code or an English name.
        fixed_language: the language of every row, for single-language sources.
        rules: conditions every kept row meets.
        strip: regexes removed from responses (GSM8K's ``<<6*4=24>>`` annotations).
    """

    name: str
    short: str
    dataset_id: str
    prompt_column: str
    config: str | None = None
    split: str = "train"
    turns: bool = False
    response_column: str | None = None
    preference: tuple[str, str, str] | None = None
    language_column: str | None = None
    fixed_language: str | None = None
    rules: tuple[Rule, ...] = ()
    strip: tuple[str, ...] = ()

    def columns(self) -> list[str]:
        """Every column this source reads, to check a local copy's schema up front."""
        cols = [self.prompt_column, self.response_column, self.language_column]
        cols += list(self.preference or ()) + [r.column for r in self.rules]
        return [c for c in dict.fromkeys(cols) if c]


SOURCES: dict[str, SeedSource] = {
    s.name: s
    for s in (
        # Card (4.8M, same layout as 1M): conversation = list of {role, content, ...};
        # language = lingua's English name of the conversation ("German").
        SeedSource("wildchat", "wc", "allenai/WildChat-4.8M", "conversation",
                   turns=True, language_column="language"),
        # Card: context = list of {role, content}; language is a name ("german"; code
        # rows hold programming languages); domain "multilingual" marks the subset.
        # Assumption: the default subset is named "preference".
        SeedSource("helpsteer3", "hs3", "nvidia/HelpSteer3", "context", config="preference",
                   turns=True, preference=("response1", "response2", "overall_preference"),
                   language_column="language", rules=(Rule("domain", "eq", "multilingual"),)),
        # Assumption (no card text in the index; inferred from public loaders): columns
        # conversations (ShareGPT from/value or role/content), dataset (generator label,
        # Magpie rows name "magpie") and language (code or name).
        SeedSource("euroblocks", "eb", "utter-project/EuroBlocks-SFT-Synthetic-1124",
                   "conversations", turns=True, language_column="language",
                   rules=(Rule("dataset", "not_contains", "magpie"),)),
        # Card: inputs, targets, language (English name), language_code (ISO 639-3).
        SeedSource("aya", "aya", "CohereForAI/aya_dataset", "inputs",
                   response_column="targets", language_column="language"),
        # Card: flat message table. Every prompter message is a seed, follow-ups too
        # (a follow-up read alone lacks its thread; the paper uses it so all the same).
        SeedSource("oasst2", "oa2", "OpenAssistant/oasst2", "text", language_column="lang",
                   rules=(Rule("role", "eq", "prompter"), Rule("deleted", "eq", False))),
        SeedSource("gsm8k", "gsm8k", "openai/gsm8k", "question", config="main",
                   response_column="answer", fixed_language="en", strip=(r"<<[^<>]*>>",)),
        # Card (H4 mirror): conversations = list of {from: human|gpt, value}.
        SeedSource("magpie", "magpie", "Magpie-Align/Magpie-Pro-300K-Filtered",
                   "conversations", turns=True, fixed_language="en"),
    )
}  # fmt: skip


def seed_id(source: SeedSource, prompt: str) -> str:
    """Stable id: the same prompt from the same source gets the same id in every build."""
    return f"{source.short}-{hashlib.sha1(prompt.encode('utf-8')).hexdigest()[:10]}"


def language_labels(code: str) -> frozenset[str]:
    """Every label a source may use for ``code``: codes, English/native names, and the
    record's ``source_labels``, plus lingua's ISO 639-3 code and name for it."""
    lang = get_language(code)
    labels = {lang.code, lang.name.lower(), lang.native_name.lower(), *lang.source_labels}
    if lang.lingua:
        from lingua import Language as LinguaLanguage

        lingua = getattr(LinguaLanguage, lang.lingua)
        labels |= {lingua.iso_code_639_3.name.lower(), lingua.name.lower()}
    return frozenset(labels)


def default_sources(code: str) -> list[str]:
    """The paper's pool for a language: English sources for ``en``, the rest otherwise."""
    want_english = code == SOURCE_LANGUAGE.code
    return [n for n, s in SOURCES.items() if (s.fixed_language == "en") == want_english]


def _label_matches(value: Any, labels: frozenset[str]) -> bool:
    label = str(value or "").strip().lower()
    return label in labels or re.split(r"[-_]", label)[0] in labels


def _turn(turn: Any) -> tuple[str, str]:
    if not isinstance(turn, Mapping):
        return "", ""
    role = turn.get("role", turn.get("from")) or ""
    return str(role).lower(), str(turn.get("content", turn.get("value")) or "")


def _extract(source: SeedSource, row: Mapping[str, Any]) -> tuple[str, str]:
    """(prompt, response) of one row, following the source's record."""
    if not source.turns:
        response = row.get(source.response_column, "") if source.response_column else ""
        return str(row.get(source.prompt_column) or ""), str(response or "")
    turns = [_turn(t) for t in row.get(source.prompt_column) or []]
    first = next((i for i, (role, _) in enumerate(turns) if role in _USER_ROLES), None)
    if first is None:
        return "", ""
    after = turns[first + 1 :]
    response = after[0][1] if after and after[0][0] in _ASSISTANT_ROLES else ""
    if not after and source.preference:
        first_col, second_col, pref_col = source.preference
        pref = row.get(pref_col) or 0
        response = str(row.get(second_col if pref > 0 else first_col) or "")
    return turns[first][1], response


def load_source(source: SeedSource, path: str | Path | None) -> datasets.Dataset:
    """The source's split, from the Hub or from a local copy in the same schema."""
    import datasets

    try:
        if path is None:
            return datasets.load_dataset(source.dataset_id, source.config, split=source.split)
        local = Path(path)
        if local.is_file():
            ext = local.suffix.lstrip(".")
            builder = {"jsonl": "json", "parquet": "parquet", "json": "json", "csv": "csv"}
            if ext not in builder:
                raise ConfigError(f"{source.name}: cannot read {local} (parquet/jsonl/csv only)")
            return datasets.load_dataset(builder[ext], data_files=str(local), split="train")
        if not local.is_dir():
            raise InputNotFoundError(f"{source.name}: local copy {local} does not exist")
        config = source.config if (local / "README.md").exists() else None
        return datasets.load_dataset(str(local), config, split=source.split)
    except (InputNotFoundError, ConfigError):
        raise
    except Exception as exc:  # datasets/hub raise many types; one actionable message each
        if path is None:
            raise HubError(
                f"cannot load {source.dataset_id} from the Hub ({exc}); pass "
                f"--source-path {source.name}=DIR to use a local copy in the same schema"
            ) from exc
        if isinstance(exc, FileNotFoundError):
            raise InputNotFoundError(f"{source.name}: no data files in {path}: {exc}") from exc
        raise ConfigError(f"{source.name}: cannot load local copy {path}: {exc}") from exc


def read_candidates(
    source: SeedSource, dset: datasets.Dataset, codes: Sequence[str], limits: tuple[int, int, int]
) -> dict[str, list[SeedRow]]:
    """Rows per language that pass the rules, extraction and length filters."""
    missing = [c for c in source.columns() if c not in dset.column_names]
    if missing:
        raise ConfigError(
            f"{source.name}: {source.dataset_id} lacks column(s) {missing}; "
            f"found {dset.column_names}"
        )
    if source.rules:
        rules = source.rules
        dset = dset.filter(
            lambda *cols: [all(map(Rule.test, rules, vals)) for vals in zip(*cols, strict=True)],
            input_columns=[r.column for r in rules],
            batched=True,
        )
    dset = dset.select_columns(source.columns())
    min_prompt, max_prompt, max_response = limits
    strip = [re.compile(p) for p in source.strip]
    out: dict[str, list[SeedRow]] = {}
    for code in codes:
        if source.fixed_language:  # the plan only pairs it with its own language
            subset = dset
        else:
            labels = language_labels(code)
            keep = [v for v in dset.unique(source.language_column) if _label_matches(v, labels)]
            subset = dset.filter(
                lambda vals, keep=frozenset(keep): [v in keep for v in vals],
                input_columns=[source.language_column],
                batched=True,
            )
        rows: list[SeedRow] = []
        for row in subset:
            prompt, response = _extract(source, row)
            for pattern in strip:
                response = pattern.sub("", response)
            prompt, response = normalize_text(prompt), normalize_text(response)
            if min_prompt <= len(prompt) <= max_prompt and len(response) <= max_response:
                rows.append(
                    SeedRow(seed_id=seed_id(source, prompt), language=code, prompt=prompt,
                            response=response, source=source.dataset_id)
                )  # fmt: skip
        out[code] = rows
    return out
