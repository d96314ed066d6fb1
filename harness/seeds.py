"""Seed pools per language: build them from the paper's Hub sources, save, and load them.

METHOD.md ("Seed data"): real runs draw seeds from WildChat, HelpSteer3 (multilingual),
EuroBlocks (non-Magpie rows) and the Aya Dataset; *respond* also uses oasst2 prompts and
*translate* uses English GSM8K and Magpie-Pro. Each source is one :class:`SeedSource`
record (data, not code branches), so a schema change on the Hub is a one-line fix and
a local copy in the same schema (``source_paths``) works behind a firewall and in tests.

Pools follow the paper's released code (METHOD.md, "Protocol facts"): each source keeps
its natural share (the deduplicated rows of all sources shuffled with one fixed seed,
the first N taken), WildChat is the 4.8M release, and oasst2 gives every prompter
message, not only the first of each thread.

Schemas were checked against the dataset cards where the search index had them
(WildChat-1M and 4.8M, HelpSteer3, Aya, oasst2, Magpie-Pro); assumptions are noted per
record.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import ConfigError, EmptyDataError, HubError, InputNotFoundError
from harness.languages import SOURCE_LANGUAGE, get_language, parse_languages
from harness.paths import seeds_path
from harness.protocol import DOCUMENTS_PER_STRATEGY
from harness.schema import SeedRow

if TYPE_CHECKING:
    import datasets

logger = logging.getLogger(__name__)

# Per language: translate and respond use each seed once, so the pool covers the
# paper's documents per strategy.
DEFAULT_SAMPLE_SIZE = DOCUMENTS_PER_STRATEGY
DEFAULT_SEED = 3407
SEED_COLUMNS: tuple[str, ...] = ("seed_id", "language", "prompt", "response", "source", "category")
_USER_ROLES = frozenset({"user", "human", "prompter"})
_ASSISTANT_ROLES = frozenset({"assistant", "gpt", "model", "bot"})
# Labels the sources use for a language beyond its code, ISO 639-3 code and names.
_ALIASES: dict[str, frozenset[str]] = {
    "ar": frozenset({"arb", "standard arabic", "modern standard arabic"}),
    "id": frozenset({"bahasa indonesia"}),
}


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


def normalize_text(text: Any) -> str:
    """NFC, no zero-width noise, ``\\n`` line ends, no trailing blanks, <= 1 empty line."""
    text = unicodedata.normalize("NFC", str(text or ""))
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u200b", "")
    text = text.replace("\ufeff", "")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def dedupe_key(text: str) -> str:
    """Exact-duplicate key: case and whitespace differences do not make a new prompt."""
    return hashlib.sha1(" ".join(text.casefold().split()).encode("utf-8")).hexdigest()


def seed_id(source: SeedSource, prompt: str) -> str:
    """Stable id: the same prompt from the same source gets the same id in every build."""
    return f"{source.short}-{hashlib.sha1(prompt.encode('utf-8')).hexdigest()[:10]}"


def language_labels(code: str) -> frozenset[str]:
    """Every label a source may use for ``code``: codes, English/native names, aliases."""
    lang = get_language(code)
    labels = {lang.code, lang.name.lower(), lang.native_name.lower()}
    try:
        from lingua import IsoCode639_1
        from lingua import Language as LinguaLanguage

        lingua = LinguaLanguage.from_iso_code_639_1(IsoCode639_1.from_str(lang.code))
        labels |= {lingua.iso_code_639_3.name.lower(), lingua.name.lower()}
    except (ValueError, AttributeError):  # a code lingua lacks keeps the other labels
        pass
    return frozenset(labels | _ALIASES.get(lang.code, frozenset()))


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


def _load(source: SeedSource, path: str | Path | None) -> datasets.Dataset:
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


def _candidates(
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


def default_sources(code: str) -> list[str]:
    """The paper's pool for a language: English sources for ``en``, the rest otherwise."""
    want_english = code == SOURCE_LANGUAGE.code
    return [n for n, s in SOURCES.items() if (s.fixed_language == "en") == want_english]


def sample_seed_pool(
    by_source: Mapping[str, Sequence[SeedRow]], sample_size: int, seed_key: str
) -> list[SeedRow]:
    """Dedupe across sources (registry order wins), then the first ``sample_size`` rows
    of one shuffle of them all.

    Each source keeps its natural share, as in the paper's code: a source holding 90%
    of the candidates holds about 90% of the pool. The shuffle runs over rows sorted by
    seed id, so the pool depends only on the rows and ``seed_key``, not on load order;
    a smaller ``sample_size`` gives a prefix of a larger one.
    """
    seen: set[str] = set()
    unique: list[SeedRow] = []
    for rows in by_source.values():
        for row in rows:
            key = dedupe_key(row["prompt"])
            if key not in seen:
                seen.add(key)
                unique.append(row)
    unique.sort(key=lambda r: (r["seed_id"], r["prompt"]))
    random.Random(seed_key).shuffle(unique)
    return unique[:sample_size]


def build_seeds(
    languages: str | Sequence[str] | None,
    *,
    sources: Sequence[str] | None = None,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    seed: int = DEFAULT_SEED,
    source_paths: Mapping[str, str | Path] | None = None,
    min_prompt_chars: int = 8,
    max_prompt_chars: int = 2_000,
    max_response_chars: int = 4_000,
    progress: bool = True,
) -> dict[str, datasets.Dataset]:
    """Build one seed dataset per language from the registry's sources.

    Each source is loaded once and filtered per language; rows are normalized, length
    filtered, deduplicated on their normalized prompt (across sources too: HelpSteer3
    prompts partly come from WildChat), then ``sample_size`` rows are drawn with each
    source's natural share (:func:`sample_seed_pool`). The result depends only on the
    inputs and ``seed``.

    Args:
        languages: ISO 639-1 codes (``"de,ja"``, a list, or ``None``/``"all"`` for the
            grid plus ``en``, the translate strategy's English pool).
        sources: registry names; default: :func:`default_sources` per language.
            A single-language source only feeds its own language.
        sample_size: rows per language at most.
        seed: sampling seed.
        source_paths: ``{name: file or folder}`` to read a local copy instead of the Hub.
        min_prompt_chars: shorter prompts are dropped (greetings, "hi").
        max_prompt_chars: longer prompts are dropped (pasted documents).
        max_response_chars: rows with longer responses are dropped.
        progress: show a tqdm bar over the sources.

    Returns ``{language: Dataset}`` with the columns of :data:`SEED_COLUMNS`; raises
    ConfigError (unknown source or language, schema mismatch), HubError (a source not
    loadable from the Hub) or EmptyDataError (a language ends up with no rows).
    """
    import datasets
    from tqdm.auto import tqdm

    if sample_size < 1:
        raise ConfigError(f"sample_size must be >= 1, got {sample_size}")
    if languages is None or languages in ("", "all"):
        codes = [lang.code for lang in parse_languages(None)] + [SOURCE_LANGUAGE.code]
    else:
        codes = list(dict.fromkeys(lang.code for lang in parse_languages(languages)))
    paths = dict(source_paths or {})
    for name in [*(sources or []), *paths]:
        if name not in SOURCES:
            raise ConfigError(f"unknown seed source {name!r}; known: {', '.join(SOURCES)}")
    plan: dict[str, list[str]] = {}  # source -> languages it feeds
    for code in codes:
        names = default_sources(code) if sources is None else list(sources)
        usable = [n for n in names if SOURCES[n].fixed_language in (None, code)]
        if not usable:
            raise ConfigError(f"none of the sources {names} has rows in language {code!r}")
        for name in usable:
            plan.setdefault(name, []).append(code)
    plan = {n: plan[n] for n in SOURCES if n in plan}  # registry order: dedupe priority
    pools: dict[str, dict[str, list[SeedRow]]] = {code: {} for code in codes}
    limits = (min_prompt_chars, max_prompt_chars, max_response_chars)
    with tqdm(total=len(plan), desc="seed sources", unit="source", disable=not progress) as bar:
        for name, langs in plan.items():
            bar.set_postfix_str(name)
            found = _candidates(SOURCES[name], _load(SOURCES[name], paths.get(name)), langs, limits)
            for code, rows in found.items():
                pools[code][name] = rows
                logger.info("%s: %d candidate rows for %s", name, len(rows), code)
            bar.update()
    features = datasets.Features({c: datasets.Value("string") for c in SEED_COLUMNS})
    result = {}
    for code in codes:
        rows = sample_seed_pool(pools[code], sample_size, f"{seed}-{code}")
        if not rows:
            raise EmptyDataError(
                f"no seed rows for language {code!r} from {', '.join(pools[code])}"
            )
        table = {c: [str(r.get(c, "")) for r in rows] for c in SEED_COLUMNS}
        result[code] = datasets.Dataset.from_dict(table, features=features)
    return result


def save_seeds(dsets: Mapping[str, datasets.Dataset], out_dir: str | Path) -> list[Path]:
    """Write ``<out>/<lang>.jsonl`` in the bundled files' format (what the tasks read)."""
    from harness.files import atomic_write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for code, dset in dsets.items():
        path = out / f"{code}.jsonl"
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in dset)
        atomic_write_text(path, text)  # a reader never sees a half-written file
        written.append(path)
    return written


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


def _read_rows(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        yield from enumerate(pq.read_table(path).to_pylist(), 1)
        return
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    yield number, json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ConfigError(f"{path}:{number}: not a JSON object ({exc})") from exc


def _seed_file(code: str, seeds: str | Path | None) -> Path:
    if seeds is None:
        path = seeds_path() / f"{code}.jsonl"
        if not path.is_file():
            raise InputNotFoundError(
                f"no bundled seeds for language {code!r} at {path}; build some with "
                "`polyglot-harness seeds` and pass that folder"
            )
        return path
    base = Path(seeds)
    if base.is_file():
        return base
    for name in (f"{code}.jsonl", f"{code}.parquet"):
        if (base / name).is_file():
            return base / name
    where = "folder" if base.is_dir() else "path, which does not exist"
    raise InputNotFoundError(
        f"no seeds for language {code!r} in {base}: expected {code}.jsonl or "
        f"{code}.parquet in that {where}"
    )


def load_seed_rows(language: str, seeds: str | Path | None = None) -> list[SeedRow]:
    """The seed rows of one language: bundled when ``seeds`` is None, else from a folder.

    ``seeds`` is a ``polyglot-harness seeds`` output folder (``<lang>.jsonl`` or
    ``<lang>.parquet``) or a single such file.

    Raises:
        InputNotFoundError: no seed file for the language.
        EmptyDataError: the file holds no rows.
        ConfigError: a row is not valid JSON, has no prompt, or repeats a seed id
            (named by file, line and id).
    """
    code = get_language(language).code
    path = _seed_file(code, seeds)
    rows: list[SeedRow] = []
    first_line: dict[str, int] = {}
    for number, raw in _read_rows(path):
        prompt = normalize_text(raw.get("prompt") if isinstance(raw, dict) else None)
        if not prompt:
            raise ConfigError(f"{path}:{number}: a seed row needs a non-empty 'prompt'")
        given = str(raw.get("seed_id") or "").strip()
        row_id = given or f"seed-{dedupe_key(prompt)[:10]}"
        if row_id in first_line:
            what = f"seed_id {row_id!r}" if given else f"prompt (derived seed_id {row_id!r})"
            raise ConfigError(
                f"{path}:{number}: duplicate {what}, first on line {first_line[row_id]}; "
                "seed ids must be unique, or collected rows of the two seeds merge into one"
            )
        first_line[row_id] = number
        row = SeedRow(
            seed_id=row_id,
            language=str(raw.get("language") or code),
            prompt=prompt,
            response=normalize_text(raw.get("response")),
            source=str(raw.get("source") or ""),
        )
        if raw.get("category"):
            row["category"] = str(raw["category"])  # type: ignore[typeddict-unknown-key]
        rows.append(row)
    if not rows:
        raise EmptyDataError(f"seed file {path} holds no rows for language {code!r}")
    return rows
