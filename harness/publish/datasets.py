"""Push the collected datasets: one repo per teacher, one ``datasets`` config per language.

Why ``Dataset.push_to_hub`` and not a plain upload: it writes the parquet shards and the
``configs``/``dataset_info`` YAML that make ``load_dataset(repo, "de")`` and the Hub's
viewer work, exactly as for any other dataset. Our card is merged into that README
afterwards, keeping what ``push_to_hub`` wrote.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.publish.cards import dataset_card, protocol_record
from harness.publish.plan import DatasetSource, PlannedRepo, RepoNames
from harness.publish.session import HubSession

logger = logging.getLogger(__name__)

SHARD = "train-00000-of-00001.parquet"  # push_to_hub's name for a one-shard split


@dataclass(frozen=True)
class PushedDataset:
    """Where one (teacher, language) dataset now lives on the Hub."""

    teacher: str
    language: str
    repo_id: str
    revision: str  # the repo's commit sha once all its configs and card are pushed
    n_rows: int


def by_teacher(sources: Sequence[DatasetSource]) -> dict[str, list[DatasetSource]]:
    """Sources grouped per teacher, languages sorted (one repo each)."""
    groups: dict[str, list[DatasetSource]] = defaultdict(list)
    for source in sources:
        groups[source.teacher].append(source)
    return {t: sorted(s, key=lambda x: x.language) for t, s in sorted(groups.items())}


def plan_datasets(sources: Sequence[DatasetSource], names: RepoNames) -> list[PlannedRepo]:
    """The dataset repos a publish would write (for ``--dry-run``)."""
    planned = []
    for teacher, group in by_teacher(sources).items():
        files = [f"{s.language}/{SHARD}" for s in group] + ["README.md"]
        note = "configs: " + ", ".join(s.language for s in group)
        planned.append(
            PlannedRepo(
                names.dataset(teacher), "dataset", tuple(files), sum(s.n_rows for s in group), note
            )
        )
    return planned


def _intrinsic_for(teacher: str, intrinsic: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    from harness.score.pgscore import teacher_key

    return [dict(row) for row in intrinsic if teacher_key(str(row.get("teacher"))) == teacher_key(teacher)]  # fmt: skip


def publish_datasets(
    session: HubSession,
    sources: Sequence[DatasetSource],
    *,
    intrinsic: Sequence[Mapping[str, Any]] = (),
    license: str = "other",
    harness_version: str,
) -> list[PushedDataset]:
    """Push every dataset and its card; returns where each (teacher, language) went.

    Args:
        session: the Hub session (token, org, visibility, retries).
        sources: the collected datasets found on disk.
        intrinsic: rows of the intrinsic stage's ``summary.jsonl``, for the cards.
        license: the card's ``license`` (the teacher's terms decide what is allowed).
        harness_version: recorded in the card.
    """
    from harness.collect import collected_notes, collected_protocol, load_collected
    from harness.schema import sft_features

    # every record checked before the first push: a bad one must not leave half a publish
    recorded: dict[Path, Any] = {}
    for source in sources:
        try:
            recorded[source.path] = protocol_record(collected_protocol(source.path))
        except ConfigError as exc:
            raise ConfigError(f"{source.path}: {exc}") from None
    pushed = []
    for teacher, group in by_teacher(sources).items():
        repo_id = session.names.dataset(teacher)
        session.ensure_repo(repo_id, "dataset")
        per_language: dict[str, list[dict[str, Any]]] = {}
        notes: list[str] = []
        protocols: dict[str, Any] = {}
        for source in group:
            notes += collected_notes(source.path)
            protocols[source.language] = recorded[source.path]
            dataset = load_collected(source.path).cast(sft_features())
            logger.info("pushing %s (%d rows) to %s [%s]", source.path, len(dataset), repo_id, source.language)  # fmt: skip
            session.call(
                lambda ds=dataset, lang=source.language, repo=repo_id, name=teacher: ds.push_to_hub(
                    repo,
                    config_name=lang,
                    data_dir=lang,
                    split="train",
                    token=session.token,
                    commit_message=f"Upload {lang} data of {name}",
                ),
                repo_id=repo_id,
                action=f"push dataset config {source.language} to",
            )
            per_language[source.language] = dataset.to_list()
        existing = session.read_text(repo_id, "dataset", "README.md")
        card = dataset_card(
            existing,
            teacher=teacher,
            repo_id=repo_id,
            per_language=per_language,
            intrinsic=_intrinsic_for(teacher, intrinsic),
            license=license,
            harness_version=harness_version,
            notes=notes,
            protocols=protocols,
        )
        sha = session.commit(repo_id, "dataset", {"README.md": card.encode()}, "Update dataset card")  # fmt: skip
        pushed += [PushedDataset(teacher, s.language, repo_id, sha, s.n_rows) for s in group]
    return pushed
