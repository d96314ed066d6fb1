"""Cards of every published repo: YAML metadata for the Hub's tooling, a body for people.

Why metadata first: lineage (teacher, language, dataset revision, hyperparameters) must
be machine-readable on the Hub (``card_data``) so the leaderboard, a reader or a later
run never has to parse it back out of repo names (STYLE.md, rule 2).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from tabulate import tabulate

from harness.collect import stats_rows
from harness.protocol import CORRECTIONS, name_of, resolve

INTRINSIC_COLUMNS: tuple[str, ...] = (
    "n_rows", "valid_rate", "language_match_rate", "prompt_diversity", "response_diversity",
    "perplexity", "rubric_score", "duplicate_rate", "near_duplicate_rate", "contamination_rate",
)  # fmt: skip
PAPER = "*Polyglot Teachers* (arXiv 2604.11290)"


def size_category(n: int) -> str:
    """The Hub's ``size_categories`` bucket of ``n`` rows."""
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return label
    return "100K<n<1M" if n < 1_000_000 else "1M<n<10M"


def source_datasets(seed_ids: Sequence[str]) -> list[str]:
    """Hub ids of the seed sources (``<short>-<hash>`` seed ids); bundled seeds are original."""
    from harness.seeds import SOURCES

    by_short = {source.short: source.dataset_id for source in SOURCES.values()}
    found = {by_short.get(seed.split("-", 1)[0], "original") for seed in seed_ids if seed}
    return sorted(found) or ["original"]


def protocol_record(value: Any) -> dict[str, Any] | None:
    """A recorded protocol (a record or a bare name) as a full record; None when absent.

    Why: some artefacts keep only the name; a card shows the same three parts (name,
    corrections, deviations) whichever form the artefact kept, the corrections always
    derived from the name so a card can never list one the name does not apply.

    Raises:
        ConfigError: not a known protocol.
    """
    name = name_of(value)
    if name is None:
        return None
    deviations = value.get("deviations") if isinstance(value, Mapping) else None
    return resolve(name).record(deviations if isinstance(deviations, Mapping) else None)


def _protocol_text(record: Mapping[str, Any] | None) -> str:
    if record is None:
        return (
            "No protocol recorded: made before polyglot-harness recorded protocols, so "
            "whether it ran as the paper's code did is unknown."
        )
    deviations = [f"`{k}` = {json.dumps(v)}" for k, v in record["deviations"].items()]
    if record["corrections"]:
        what = (
            "the paper's protocol with the corrections below, so its numbers are not "
            "comparable with the paper's table"
        )
    elif deviations:
        what = (
            "every fact as the paper's released code ran it, flaws included, but for the "
            "deviations below: its numbers are comparable with the paper's table only as "
            "far as those allow"
        )
    else:
        what = (
            "every fact as the paper's released code ran it, flaws included, so its numbers "
            "are comparable with the paper's table"
        )
    corrections = [f"  - `{c}`: {CORRECTIONS[c]}" for c in record["corrections"]]
    return "\n".join(
        [
            f"Protocol **`{record['name']}`**: {what} (docs/PROTOCOL.md).",
            "",
            "- Corrections:" + ("\n" + "\n".join(corrections) if corrections else " none"),
            "- Deviations from the protocol: " + (", ".join(deviations) or "none"),
        ]
    )


def protocol_section(records: Mapping[str, Any]) -> str:
    """The card's ``## Protocol`` section: each distinct protocol once, with what it covers.

    ``records`` maps a label (a language, a model) to what its artefact recorded; labels
    that share a record are listed together, so a uniform dataset reads as one line.
    """
    groups: dict[str, list[str]] = {}
    full: dict[str, dict[str, Any] | None] = {}
    for label, value in sorted(records.items()):
        record = protocol_record(value)
        key = json.dumps(record, sort_keys=True)
        groups.setdefault(key, []).append(label)
        full[key] = record
    parts = ["## Protocol"]
    for key, labels in groups.items():
        prefix = f"For {', '.join(labels)}: " if len(groups) > 1 else ""
        parts.append(prefix + _protocol_text(full[key]))
    return "\n\n".join(parts)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "-" if value is None else str(value)


def _generation_table(rows: Sequence[Mapping[str, Any]]) -> str:
    seen = Counter(
        (r["strategy"], r["temperature"], r["top_p"], r["max_gen_toks"], r["generation_kwargs"])
        for r in rows
    )
    body = [[*map(_fmt, key), n] for key, n in sorted(seen.items(), key=str)]
    headers = ["strategy", "temperature", "top_p", "max_gen_toks", "generation_kwargs", "rows"]
    return tabulate(body, headers=headers, tablefmt="github", disable_numparse=True)


def dataset_body(
    teacher: str,
    repo_id: str,
    per_language: Mapping[str, Sequence[Mapping[str, Any]]],
    intrinsic: Sequence[Mapping[str, Any]],
    harness_version: str,
    notes: Sequence[str] = (),
    protocols: Mapping[str, Any] | None = None,
) -> str:
    """The dataset card's markdown: what the data is, how it was made, how good it is.

    ``notes`` are caveats collect recorded (:func:`harness.collect.collected_notes`),
    such as a strategy capped by a small seed pool, which the rows alone cannot show.
    ``protocols`` maps each language to the protocol its collected data recorded.
    """
    all_rows = [r for rows in per_language.values() for r in rows]
    languages = sorted(per_language)
    strategies = Counter(r["strategy"] for r in all_rows)
    model_args = sorted({r["model_args"] for r in all_rows if r["model_args"]})
    validity = []
    for lang in languages:
        validity += stats_rows(per_language[lang])
    validity_table = tabulate(
        [{k: _fmt(v) for k, v in row.items() if k != "teacher"} for row in validity],
        headers="keys",
        tablefmt="github",
        disable_numparse=True,
    )
    parts = [
        f"# Synthetic SFT data written by `{teacher}`",
        f"Instruction/response pairs the teacher **`{teacher}`** generated in "
        f"{len(languages)} language(s) ({', '.join(languages)}) for {PAPER}, collected by "
        f"polyglot-harness {harness_version}. One config per language; every row keeps "
        "its raw output and validity verdict, so filter on `valid` to get training rows.",
        "```python\nfrom datasets import load_dataset\n"
        f'ds = load_dataset("{repo_id}", "{languages[0]}", split="train")\n'
        'train = ds.filter(lambda r: r["valid"])\n```',
        "## Generation",
        f"- Teacher: `{teacher}`"
        + (f" (model_args: `{'`, `'.join(model_args)}`)" if model_args else ""),
        "- Strategies: " + ", ".join(f"{s} ({n} rows)" for s, n in sorted(strategies.items())),
        "- Runs (lm-eval results timestamps): "
        + ", ".join(f"`{r}`" for r in sorted({r["run_id"] for r in all_rows})),
        _generation_table(all_rows),
        *(["Caveats:\n\n" + "\n".join(f"- {note}" for note in notes)] if notes else []),
        protocol_section(protocols if protocols is not None else dict.fromkeys(languages)),
        "## Validity",
        validity_table,
    ]
    if intrinsic:
        recorded = any(row.get("protocol") is not None for row in intrinsic)
        table = [
            {
                "language": row.get("language"),
                **{c: _fmt(row.get(c)) for c in INTRINSIC_COLUMNS},
                # metrics measured under another protocol than the data (per-row fluency)
                **({"protocol": name_of(row.get("protocol")) or "unrecorded"} if recorded else {}),
            }
            for row in sorted(intrinsic, key=lambda r: str(r.get("language")))
        ]
        parts += [
            "## Intrinsic quality",
            tabulate(table, headers="keys", tablefmt="github", disable_numparse=True),
        ]
    return "\n\n".join(parts) + "\n"


def dataset_card(
    existing: str | None,
    *,
    teacher: str,
    repo_id: str,
    per_language: Mapping[str, Sequence[Mapping[str, Any]]],
    intrinsic: Sequence[Mapping[str, Any]],
    license: str,
    harness_version: str,
    notes: Sequence[str] = (),
    protocols: Mapping[str, Any] | None = None,
) -> str:
    """The README of a teacher's dataset repo, keeping the ``configs``/``dataset_info``
    that ``push_to_hub`` wrote into ``existing``; ``notes`` and ``protocols`` as in
    :func:`dataset_body` (the metadata holds each language's full protocol record)."""
    from huggingface_hub import DatasetCard, DatasetCardData

    data = DatasetCard(existing).data if existing else DatasetCardData()
    n_rows = sum(len(rows) for rows in per_language.values())
    seeds = [r["seed_id"] for rows in per_language.values() for r in rows]
    data.language = sorted(per_language)
    data.license = license
    data.task_categories = ["text-generation"]
    data.size_categories = [size_category(n_rows)]
    data.source_datasets = source_datasets(seeds)
    data.pretty_name = f"Polyglot synthetic SFT data by {teacher}"
    data.tags = ["polyglot-harness", "synthetic", "sft", "multilingual"]
    protocols = protocols if protocols is not None else dict.fromkeys(per_language)
    data.polyglot = {
        "role": "dataset",
        "teacher": teacher,
        "harness_version": harness_version,
        "protocol": {lang: protocol_record(protocols.get(lang)) for lang in sorted(per_language)},
    }
    body = dataset_body(
        teacher, repo_id, per_language, intrinsic, harness_version, notes, protocols
    )
    return f"---\n{data.to_yaml()}\n---\n\n{body}"


def _is_repo_id(name: str | None) -> bool:
    import re

    return bool(name) and re.fullmatch(r"[\w.-]+/[\w.-]+", str(name)) is not None


def eval_results(
    model_id: str,
    language: str,
    benchmarks: Sequence[Mapping[str, Any]],
    score: Mapping[str, Any] | None,
    *,
    results_repo: str,
    leaderboard_repo: str,
    endpoint: str,
) -> list[Any]:
    """``model-index`` entries: one per benchmark score, plus the Polyglot Score row.

    Each entry's ``metric_config`` is the protocol its number was made under (the
    evaluation's for a benchmark, the scored run's for the Polyglot Score), so a reader
    never compares a corrected number with the paper's.
    """
    from huggingface_hub import EvalResult

    out = []
    for row in benchmarks:
        out.append(
            EvalResult(
                task_type="text-generation",
                dataset_type=row["benchmark"],
                dataset_name=f"{row['benchmark']} ({row['language']})",
                dataset_config=row["language"],
                metric_type="accuracy",
                metric_name="accuracy",
                metric_value=float(row["score"]),
                metric_config=name_of(row.get("protocol")),
                source_name="lm-evaluation-harness",
                source_url=f"{endpoint}/datasets/{results_repo}",
            )
        )
    if score is not None:
        for key in ("pg_score", "pgr", "headroom_gain", "student_score"):
            if score.get(key) is None:
                continue
            out.append(
                EvalResult(
                    task_type="text-generation",
                    dataset_type=leaderboard_repo,
                    dataset_name=f"Polyglot Score ({language})",
                    dataset_config=language,
                    metric_type=key,
                    metric_name=key,
                    metric_value=float(score[key]),
                    metric_config=name_of(score.get("protocol")),
                    source_name="polyglot-harness",
                    source_url=f"{endpoint}/datasets/{leaderboard_repo}",
                )
            )
    return out


def student_card(
    existing: str | None,
    metadata: Mapping[str, Any],
    *,
    model_id: str,
    dataset_repo: str | None,
    dataset_revision: str | None,
    results: Sequence[Any],
) -> str:
    """The published student's README: the trainer's card with Hub-resolvable lineage.

    ``datasets`` points at the exact dataset repo (the local path the trainer saw means
    nothing on the Hub); a local ``base_model`` path is kept only in the ``polyglot``
    block, since the Hub validates ``base_model`` as a repo id. The protocol the run
    recorded goes into that block, and into the body unless the trainer's card states it.
    """
    from huggingface_hub import ModelCard, ModelCardData

    card = ModelCard(existing) if existing else None
    data = card.data if card is not None else ModelCardData()
    body = card.text if card is not None else f"\n# {model_id}\n"
    base = metadata.get("base_model")
    data.base_model = base if _is_repo_id(base) else None
    data.datasets = [dataset_repo] if dataset_repo else None
    data.language = [metadata["target_language"]]
    data.model_name = model_id
    data.eval_results = list(results) or None
    polyglot = dict(getattr(data, "polyglot", None) or {})
    polyglot.update(
        role="student",
        student_family=metadata["student_family"],
        teacher=metadata["teacher"],
        target_language=metadata["target_language"],
        base_model=base,
        dataset_repo=dataset_repo,
        dataset_revision=dataset_revision,
        hyperparameters=metadata.get("hyperparameters", {}),
        harness_version=metadata.get("harness_version"),
        protocol=protocol_record(metadata.get("protocol")),
    )
    data.polyglot = polyglot
    if dataset_repo:
        body = body.replace(f"`{metadata.get('dataset')}`", f"`{dataset_repo}`")
    if "## Protocol" not in body:
        section = protocol_section({metadata["target_language"]: metadata.get("protocol")})
        body = body.rstrip("\n") + "\n\n" + section + "\n"
    return f"---\n{data.to_yaml()}\n---\n{body}"


def details_card(
    repo_id: str,
    files: Sequence[str],
    latest_results: Mapping[str, Any],
    *,
    endpoint: str,
    protocols: Mapping[str, Any] | None = None,
) -> str:
    """The results/details repo card, as lm-eval's ``recreate_metadata_card`` builds it.

    Same configs (``<model>__results`` and ``<model>__<task>``, one split per run date
    plus ``latest``) so the Hub's viewer and ``load_dataset(repo, name=...)`` read the
    files as they read a repo lm-eval pushed itself. ``protocols`` maps model folders
    (this run's, and those an earlier card named) to the protocol their evaluation recorded.
    """
    import re
    from collections import defaultdict
    from pathlib import PurePosixPath

    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard, DatasetCardData
    from lm_eval.utils import (
        get_file_datetime,
        get_file_task_name,
        get_results_filenames,
        get_sample_results_filenames,
        sanitize_task_name,
    )

    def split(date: str) -> str:
        return re.sub(r"[^\w.]", "_", date)

    configs: dict[str, list[tuple[str, str]]] = defaultdict(list)  # config -> (date, file)
    for name in get_results_filenames(list(files)):
        path = PurePosixPath(name)
        configs[f"{path.parent}__results"].append((get_file_datetime(path.name), path.name))
    for name in get_sample_results_filenames(list(files)):
        path = PurePosixPath(name)
        task = sanitize_task_name(get_file_task_name(path.name))
        configs[f"{path.parent}__{task}"].append((get_file_datetime(path.name), path.name))
    metadata = MetadataConfigs()
    for config, entries in sorted(configs.items()):
        data_files = [{"split": split(d), "path": [f"**/{f}"]} for d, f in sorted(entries)]
        latest = max(entries)[1]
        metadata[config] = {
            "data_files": [*data_files, {"split": "latest", "path": [f"**/{latest}"]}]
        }
    models = sorted({str(PurePosixPath(f).parent) for f in files if "/" in f})
    results = json.dumps({"all": latest_results, **latest_results}, indent=4, sort_keys=True)
    summary = (
        "Dataset automatically created during the evaluation runs of "
        + ", ".join(f"`{m}`" for m in models)
        + f" with lm-evaluation-harness, published by polyglot-harness.\n\nThe dataset is "
        f"composed of {len(configs)} configuration(s): `<model>__results` holds the "
        "aggregated results and `<model>__<task>` the per-sample details; each run is a "
        'split named by its timestamp, and the "latest" split points at the newest run.\n\n'
        "```python\nfrom datasets import load_dataset\n"
        f'data = load_dataset("{repo_id}", name="{next(iter(sorted(configs)), "")}", '
        'split="latest")\n```\n\n'
        + (f"{protocol_section(protocols)}\n\n" if protocols else "")
        + f"## Latest results\n\n```python\n{results}\n```"
    )
    card_data = DatasetCardData(
        dataset_summary=summary,
        pretty_name="Evaluation runs of the Polyglot students",
        leaderboard_url=None,
        tags=["polyglot-harness", "lm-eval-results"],
        polyglot={
            "protocol": {m: protocol_record(p) for m, p in sorted((protocols or {}).items())}
        },
    )
    metadata.to_dataset_card_data(card_data)
    card = DatasetCard.from_template(card_data, pretty_name=card_data.pretty_name)
    return str(card)


def leaderboard_card(
    rows: Sequence[Mapping[str, Any]],
    table: str,
    *,
    space_id: str | None,
    endpoint: str,
    costs: str = "",
) -> str:
    """The leaderboard dataset's README: the rendered table, rows in ``leaderboard.jsonl``.

    ``costs`` is the rendered GPU-hours table (:func:`harness.score.costs.cost_table`),
    empty when no row carries measured hours: a model developer's first question is
    what benchmarking their teacher costs, so the card answers it beside the scores.
    """
    from huggingface_hub import DatasetCardData

    data = DatasetCardData(
        pretty_name="Polyglot Teachers leaderboard",
        tags=["polyglot-harness", "leaderboard"],
        size_categories=[size_category(len(rows))],
        configs=[
            {
                "config_name": "default",
                "data_files": [{"split": "train", "path": "leaderboard.jsonl"}],
            }
        ],
    )
    teachers = sorted({r["teacher"] for r in rows})
    space = f"\n\nLive app: [{space_id}]({endpoint}/spaces/{space_id})." if space_id else ""
    measured = (
        " Rows of a benchmarked teacher carry its measured `gpu_hours`, `cpu_hours` and "
        "`wall_hours`."
        if costs
        else ""
    )
    extra = f"\n{costs.strip()}\n" if costs else ""
    body = (
        f"# Polyglot Teachers leaderboard\n\n{len(rows)} score rows (teacher x language x "
        f"student family x harness version) over {len(teachers)} teacher(s). Each row links "
        "to the exact dataset and student revisions it was computed from "
        f"(`dataset_repo`/`dataset_revision`, `model_repo`/`model_revision`).{measured}"
        f"{space}\n\n{table}{extra}"
    )
    return f"---\n{data.to_yaml()}\n---\n\n{body}"  # fmt: skip


def space_card(readme: str, *, dataset_repo: str, private: bool) -> str:
    """The Space's README: the checked-in ``leaderboard/README.md`` naming the dataset.

    Its YAML header configures the Space (``sdk: gradio``, ``app_file``); ``datasets``
    links the Space to the leaderboard dataset it renders.
    """
    from huggingface_hub import SpaceCard

    card = SpaceCard(readme)
    card.data.datasets = [dataset_repo]
    if private:
        card.text = card.text.rstrip("\n") + (
            "\n\nThis Space reads a private dataset: add an `HF_TOKEN` secret with read "
            "access to it in the Space settings.\n"
        )
    return str(card)
