"""The leaderboard dataset (score rows with lineage links) and the Space that renders it.

One row per (teacher, language, student family, harness version): the ScoreRow values
plus the repo ids and commit shas of the exact dataset and student they came from.
Rows live in ``leaderboard.jsonl`` (sorted, so an unchanged leaderboard is byte-for-byte
unchanged and makes no commit); the README renders the current table.

Why ``--force``: a published score is a claim others cite. A re-publish may add rows
and refresh links, but replacing a row whose values differ needs the user to say so.
The check runs before anything is pushed (:func:`check_conflicts`).

Measured costs (``gpu_hours``, ``cpu_hours``, ``wall_hours`` from the grid's
``costs.json``) ride on each row of a teacher but are not score values: like the
lineage links they may change on a re-publish without ``--force``. So do the bootstrap's
interval and rank fields (:data:`harness.score.intervals.INTERVAL_FIELDS`): they describe
the uncertainty of a published value, a rerun with more replicates refines them, and
the card and the Space show them beside the values.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HubError, InputNotFoundError
from harness.publish.cards import leaderboard_card, space_card
from harness.publish.datasets import PushedDataset
from harness.publish.models import PushedModel
from harness.publish.plan import LEADERBOARD_FILE, PlannedRepo, RepoNames
from harness.publish.session import HubSession

if TYPE_CHECKING:
    from harness.score.intervals import Intervals

logger = logging.getLogger(__name__)

SPACE_FILES: tuple[str, ...] = ("app.py", "requirements.txt", "README.md")
SPACE_CONFIG = "space_config.json"
LINEAGE: tuple[str, ...] = (
    "dataset_repo", "dataset_revision", "model_repo", "model_revision", "results_repo",
)  # fmt: skip
# Row field -> costs.json key: hours measured to benchmark the row's teacher.
COSTS: dict[str, str] = {"gpu_hours": "gpu_h", "cpu_hours": "cpu_h", "wall_hours": "wall_h"}
HOURS_DIGITS = 4  # 0.36 s: finer than any job's overhead, short enough to read
Key = tuple[str, str, str, str, str]


def space_folder() -> Path:
    """The checked-in Space (``leaderboard/``): in the package of a wheel, else beside it."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "leaderboard", package.parent / "leaderboard"):
        if (candidate / "app.py").is_file():
            return candidate
    raise InputNotFoundError(
        f"cannot find the leaderboard Space (leaderboard/app.py) next to {package}; "
        "reinstall polyglot-harness or pass --no-space"
    )


def version_key(version: Any) -> tuple[int, ...]:
    """Sortable form of a harness version: ``0.10.0`` after ``0.9.0`` (not as strings)."""
    from packaging.version import InvalidVersion, Version

    try:
        parsed = Version(str(version))
    except InvalidVersion:
        return (-1,)
    return (*parsed.release, 0 if parsed.pre is None else -1)


def row_key(row: Mapping[str, Any]) -> Key:
    """The identity of a leaderboard row."""
    from harness.score.pgscore import family_key, teacher_key

    return (
        teacher_key(str(row["teacher"])),
        str(row["language"]),
        family_key(str(row["student_family"])),
        str(row.get("harness_version")),
        str(row.get("protocol")),  # rows of two protocols are two claims, never one replaced
    )


def _values(row: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a published claim consists of: not lineage, costs or intervals."""
    from harness.score.intervals import INTERVAL_FIELDS

    return {
        k: v for k, v in row.items() if k not in LINEAGE and k not in COSTS and k not in INTERVAL_FIELDS
    }  # fmt: skip


def teacher_costs(
    costs: Mapping[str, Mapping[str, float]] | None, teacher: str
) -> dict[str, float | None]:
    """The cost fields of one teacher's rows (``{}`` without ``costs.json``).

    Matched by :func:`teacher_key`, so the grid's teacher names and the score rows'
    agree whether they are full ids or slugs; a teacher without an entry gets nulls,
    which say "not measured" where a zero would claim it was free.
    """
    if costs is None:
        return {}
    from harness.score.pgscore import teacher_key

    key = teacher_key(teacher)
    entry = next((h for name, h in costs.items() if teacher_key(name) == key), None)
    return {
        field: None if entry is None else round(float(entry[name]), HOURS_DIGITS)
        for field, name in COSTS.items()
    }


def build_rows(
    scores: Sequence[Any],
    *,
    datasets: Sequence[PushedDataset],
    models: Sequence[PushedModel],
    results_repo: str | None,
    harness_version: str,
    costs: Mapping[str, Mapping[str, float]] | None = None,
    intervals: Intervals | None = None,
) -> list[dict[str, Any]]:
    """Leaderboard rows of this run: each score with links to what produced it.

    ``costs`` (the grid's ``costs.json``, see :func:`harness.score.costs.read_costs`)
    adds the teacher's measured hours to each row; without it rows carry no cost fields.
    ``intervals`` (:func:`harness.score.intervals.read_intervals`) adds the bootstrap's
    interval and rank fields.
    """
    from harness.score.intervals import interval_fields
    from harness.score.pgscore import family_key, teacher_key

    rows = []
    for score in scores:
        row = score.to_json() | {"harness_version": harness_version}
        t, lang, fam = teacher_key(score.teacher), score.language, family_key(score.student_family)
        data = next(
            (d for d in datasets if teacher_key(d.teacher) == t and d.language == lang), None
        )
        model = next(
            (m for m in models if teacher_key(m.teacher) == t and m.language == lang
             and family_key(m.student_family) == fam),
            None,
        )  # fmt: skip
        row |= {
            "dataset_repo": data.repo_id if data else None,
            "dataset_revision": data.revision if data else None,
            "model_repo": model.repo_id if model else None,
            "model_revision": model.revision if model else None,
            "results_repo": results_repo,
        }
        row |= teacher_costs(costs, score.teacher)
        row |= interval_fields(intervals, score)
        rows.append(row)
    return rows


def parse_rows(text: str | None) -> list[dict[str, Any]]:
    """The rows of a ``leaderboard.jsonl`` (``None``: no leaderboard yet)."""
    return [json.loads(line) for line in (text or "").splitlines() if line.strip()]


def check_conflicts(
    existing: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]], *, force: bool
) -> list[Key]:
    """Keys whose published values differ from this run's; an error unless ``force``.

    Only values count: a row whose scores are unchanged may get fresh revision links.
    """
    published = {row_key(r): _values(r) for r in existing}
    changed = [row_key(r) for r in new if row_key(r) in published and published[row_key(r)] != _values(r)]  # fmt: skip
    if changed and not force:
        more = f" (and {len(changed) - 1} more)" if len(changed) > 1 else ""
        raise HubError(
            f"leaderboard row {changed[0]} (teacher, language, student family, harness "
            f"version) is already published with other values{more}; pass --force to replace it"
        )
    return changed


def merge_rows(
    existing: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Existing rows with this run's rows added or replacing theirs, sorted by key.

    A new row without cost (or interval) fields, a run scored outside the grid (or not
    bootstrapped), keeps the published row's when its values are unchanged:
    re-publishing the same scores must not erase what was measured.
    """
    from harness.score.intervals import INTERVAL_FIELDS

    merged = {row_key(r): dict(r) for r in existing}
    for row in new:
        old = merged.get(row_key(row))
        kept = {}
        for fields in (COSTS, INTERVAL_FIELDS):
            if old is not None and not any(f in row for f in fields) and _values(old) == _values(row):  # fmt: skip
                kept |= {f: old[f] for f in fields if f in old}
        merged[row_key(row)] = dict(row) | kept
    return [merged[k] for k in sorted(merged)]  # fmt: skip


def render_jsonl(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """Deterministic JSONL (sorted keys), so equal rows are equal bytes."""
    return "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in rows).encode()


def _newest(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The newest harness version's row of each (teacher, language, family) cell."""
    newest: dict[tuple[str, str, str], Mapping[str, Any]] = {}
    for row in sorted(rows, key=lambda r: version_key(r.get("harness_version"))):
        newest[row_key(row)[:3]] = row
    return list(newest.values())


def current_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The markdown leaderboard of the newest harness version of each cell, with the
    intervals and tie groups its rows carry."""
    from harness.score.intervals import intervals_from_fields
    from harness.score.pgscore import ScoreRow
    from harness.score.tables import leaderboard

    fields = set(ScoreRow.__dataclass_fields__)
    newest = _newest(rows)
    scores = [
        ScoreRow(**{k: (tuple(v) if k == "benchmarks" else v) for k, v in r.items() if k in fields})
        for r in newest
    ]
    if not scores:
        return "No rows yet.\n"
    return leaderboard(scores, tablefmt="github", intervals=intervals_from_fields(newest))


def current_costs(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Measured hours per teacher (``costs.json`` keys) from the rows the table shows.

    Teachers whose rows carry no ``gpu_hours`` are left out: the card shows what was
    measured, and old leaderboards without costs get no table at all.
    """
    hours: dict[str, dict[str, float | None]] = {}
    for row in _newest(rows):
        if row.get("gpu_hours") is not None:
            hours[str(row["teacher"])] = {name: row.get(field) for field, name in COSTS.items()}
    return hours


def read_published(session: HubSession) -> list[dict[str, Any]]:
    """Rows already on the Hub (none if the leaderboard repo does not exist yet)."""
    from huggingface_hub.errors import RepositoryNotFoundError

    repo_id = session.names.leaderboard

    def download() -> str | None:
        try:
            path = session.api.hf_hub_download(repo_id, LEADERBOARD_FILE, repo_type="dataset")
        except RepositoryNotFoundError:
            return None
        except Exception as exc:  # a repo without the file yet
            if type(exc).__name__ in ("EntryNotFoundError", "RemoteEntryNotFoundError"):
                return None
            raise
        return Path(path).read_text(encoding="utf-8")

    return parse_rows(session.call(download, repo_id=repo_id, action="read leaderboard"))


def publish_leaderboard(
    session: HubSession, rows: Sequence[Mapping[str, Any]], *, space: bool
) -> tuple[str, str | None]:
    """Write the merged rows and card, then the Space; returns both head shas."""
    from harness.score.costs import cost_table

    repo_id = session.names.leaderboard
    session.ensure_repo(repo_id, "dataset")
    card = leaderboard_card(
        rows,
        current_table(rows),
        space_id=repo_id if space else None,
        endpoint=session.endpoint,
        costs=cost_table(current_costs(rows)),
    )
    files = {LEADERBOARD_FILE: render_jsonl(rows), "README.md": card.encode()}
    sha = session.commit(repo_id, "dataset", files, f"Update leaderboard ({len(rows)} rows)")
    space_sha = publish_space(session) if space else None
    return sha, space_sha


def space_files(names: RepoNames, *, private: bool) -> dict[str, bytes]:
    """The Space's files: the checked-in app plus the dataset it should read."""
    folder = space_folder()
    files = {name: (folder / name).read_bytes() for name in SPACE_FILES}
    readme = files["README.md"].decode("utf-8")
    files["README.md"] = space_card(
        readme, dataset_repo=names.leaderboard, private=private
    ).encode()
    config = {"dataset": names.leaderboard}
    files[SPACE_CONFIG] = (json.dumps(config, indent=2, sort_keys=True) + "\n").encode()
    return files


def publish_space(session: HubSession) -> str:
    """Create (or update) the Gradio Space that renders the leaderboard dataset."""
    repo_id = session.names.leaderboard
    session.ensure_repo(repo_id, "space", space_sdk="gradio")
    files = space_files(session.names, private=session.private is not False)
    return session.commit(repo_id, "space", files, "Update leaderboard app")


def plan_leaderboard(n_rows: int, names: RepoNames, *, space: bool) -> list[PlannedRepo]:
    """The leaderboard repos a publish would write (for ``--dry-run``)."""
    planned = [
        PlannedRepo(
            names.leaderboard, "dataset", (LEADERBOARD_FILE, "README.md"), n_rows,
            "merged with rows already published",
        )
    ]  # fmt: skip
    if space:
        planned.append(PlannedRepo(names.leaderboard, "space", (*SPACE_FILES, SPACE_CONFIG), note="sdk: gradio"))  # fmt: skip
    return planned
