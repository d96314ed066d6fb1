"""The Polyglot leaderboard Space: which language model teaches best, per language.

Self-contained on purpose: the Space installs only ``leaderboard/requirements.txt``
(gradio, pandas, huggingface_hub), never polyglot-harness, so this file must not import
``harness``. It reads score rows either from a local ``scores.jsonl`` (what
``polyglot-harness score`` writes) or from the leaderboard dataset that
``polyglot-harness publish`` pushes (``leaderboard.jsonl``; those rows add Hub links
to the exact dataset and student revisions, and, for a grid run, each teacher's
measured ``gpu_hours``). A local run's hours come from ``costs.json`` beside its scores,
its bootstrap intervals and tie groups from ``intervals.jsonl`` and ``ranks.json``, its
predicted rows (teachers without a trained student) from ``predicted.jsonl``; published
rows carry the same fields (``pg_score_lo``, ``rank_pg_score``, ...) themselves.

Run it locally::

    python leaderboard/app.py --scores scores/            # a local run
    python leaderboard/app.py --dataset my-org/polyglot-leaderboard   # the published one

On the Space, ``space_config.json`` (written by ``publish``) names the dataset; a
private dataset needs an ``HF_TOKEN`` secret on the Space.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

LEADERBOARD_FILE = "leaderboard.jsonl"
SCORES_FILE = "scores.jsonl"
SPACE_CONFIG = "space_config.json"
COSTS_FILE = "costs.json"
INTERVALS_FILE = "intervals.jsonl"
RANKS_FILE = "ranks.json"
PREDICTED_FILE = "predicted.jsonl"
INTERVAL_VALUES = ("student_score", "pgr", "z_score", "pg_score", "headroom_gain")
RANKED = ("pg_score", "headroom_gain")  # values with published ranks and averaged intervals
PREDICTED_MARK = " (predicted)"
GPU_HOURS = "GPU-hours"
ALL = "All"
ILL_MARK = "†"
DEFAULT_ENDPOINT = "https://huggingface.co"
# Columns averaged per teacher; PGR-based ones carry the ill-conditioned mark.
VALUES: dict[str, str] = {
    "pg_score": "PG-Score",
    "headroom_gain": "Headroom gain",
    "pgr": "PGR",
    "z_score": "z (intrinsic)",
    "student_score": "Student score",
}
_MARKED = ("pg_score", "pgr")
FOOTNOTE = (
    f"{ILL_MARK} **PGR ill-conditioned**: the reference model is not clearly better than the "
    "base on these benchmarks (reference − base within noise or negative), so PGR and "
    "PG-Score amplify noise there; compare **headroom gain** instead."
)
INTERVAL_NOTE = (
    "**[lo, hi]**: 95 % bootstrap interval (evaluation items, data rows and seeds "
    "resampled). **=k**: teachers sharing a rank are not ordered apart in 95 % of the "
    "replicates; ranks and averaged intervals describe the mean over all of a teacher's "
    "languages, so they show when no language is picked. Rows marked *(predicted)* are "
    "predicted from intrinsic metrics, not measured, and never ranked."
)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return newest_per_cell([json.loads(line) for line in lines if line.strip()])


def _version_key(version: Any) -> tuple[int, ...]:
    from packaging.version import InvalidVersion, Version

    try:
        return tuple(Version(str(version)).release)
    except InvalidVersion:
        return (-1,)


def newest_per_cell(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (teacher, language, family): the newest harness version's.

    The leaderboard dataset keeps every version's rows; averaging them together would
    count a cell twice and disagree with the dataset card.
    """
    best: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: _version_key(r.get("harness_version"))):
        best[(str(row["teacher"]), str(row["language"]), str(row["student_family"]))] = row
    return list(best.values())


def load_rows(
    scores: str | Path | None = None,
    dataset: str | None = None,
    *,
    revision: str | None = None,
    token: str | None = None,
) -> list[dict[str, Any]]:
    """Score rows from a local ``scores.jsonl`` (file or folder) or a leaderboard dataset.

    Why both: developers look at a run before publishing it, the Space shows the
    published rows; the table is the same either way.
    """
    if scores is not None:
        path = Path(scores)
        for candidate in (path, path / SCORES_FILE, path / LEADERBOARD_FILE):
            if candidate.is_file():
                rows = _with_costs(_read_jsonl(candidate), candidate.parent / COSTS_FILE)
                return _with_intervals(rows, candidate.parent)
        raise FileNotFoundError(f"no {SCORES_FILE} at {path}; run `polyglot-harness score` first")
    if dataset is None:
        raise ValueError("pass --scores <scores.jsonl> or --dataset <org/leaderboard-repo>")
    from huggingface_hub import hf_hub_download

    local = hf_hub_download(
        dataset, LEADERBOARD_FILE, repo_type="dataset", revision=revision, token=token
    )
    return _read_jsonl(Path(local))


def _teacher_key(name: Any) -> str:
    """A rough copy of the harness's teacher key: ``org/name`` and ``org__name`` agree."""
    return str(name).strip().rstrip("/").replace("/", "__").lower()


def _with_costs(rows: list[dict[str, Any]], costs: Path) -> list[dict[str, Any]]:
    """A local run's rows with the hours its grid measured (what ``publish`` would add).

    Best effort: the harness validates ``costs.json``; here a figure that is not a
    finite number is only left out, so a damaged file never hides the scores.
    """
    if not costs.is_file():
        return rows
    try:
        hours = json.loads(costs.read_text(encoding="utf-8"))
    except ValueError:
        logger.warning("ignoring %s: not valid JSON", costs)
        return rows
    if not isinstance(hours, dict):
        return rows
    by_key = {_teacher_key(k): v for k, v in hours.items() if isinstance(v, dict)}
    for row in rows:
        entry = by_key.get(_teacher_key(row.get("teacher")), {})
        for field, key in (("gpu_hours", "gpu_h"), ("cpu_hours", "cpu_h")):
            if field not in row and _mean([entry.get(key)]) is not None:
                row[field] = entry[key]
    return rows


def _read_optional(path: Path) -> Any:
    """A JSON or JSONL file beside the scores, or None when absent or damaged (logged)."""
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        return json.loads(text)
    except ValueError:
        logger.warning("ignoring %s: not valid JSON", path)
        return None


def _with_intervals(rows: list[dict[str, Any]], folder: Path) -> list[dict[str, Any]]:
    """A local run's rows with the fields ``publish`` would add from the bootstrap's files
    (``intervals.jsonl``, ``ranks.json``), plus its ``predicted.jsonl`` rows."""
    cells = {
        (str(c.get("teacher")), str(c.get("language")), str(c.get("student_family"))): c
        for c in _read_optional(folder / INTERVALS_FILE) or []
        if isinstance(c, dict)
    }
    ranks = _read_optional(folder / RANKS_FILE)
    ranks = ranks.get("values", {}) if isinstance(ranks, dict) else {}
    for row in rows:
        cell = cells.get((str(row["teacher"]), str(row["language"]), str(row["student_family"])))
        if cell is None or not _same(cell, row):
            continue
        row["interval_replicates"], row["interval_level"] = (
            cell.get("replicates"),
            cell.get("level"),
        )
        for value in INTERVAL_VALUES:
            row[f"{value}_lo"], row[f"{value}_hi"] = (
                cell.get(f"{value}_lo"),
                cell.get(f"{value}_hi"),
            )
        for value in RANKED:
            for scope, prefix in ((row["student_family"], ""), ("all", "all_")):
                try:
                    place = ranks.get(value, {}).get(scope, {})
                    teacher = row["teacher"]
                    if teacher in place.get("rank", {}):
                        tied = "=" if place["tied"].get(teacher) else ""
                        row[f"rank_{prefix}{value}"] = f"{tied}{place['rank'][teacher]}"
                        row[f"avg_{prefix}{value}_lo"] = place["lo"].get(teacher)
                        row[f"avg_{prefix}{value}_hi"] = place["hi"].get(teacher)
                except (AttributeError, KeyError, TypeError):  # a damaged file hides no score
                    logger.warning(
                        "ignoring %s for %s: not the bootstrap's shape", RANKS_FILE, value
                    )
    predicted = _read_optional(folder / PREDICTED_FILE) or []
    return rows + [r for r in predicted if isinstance(r, dict) and r.get("predicted")]


def _same(cell: dict[str, Any], row: dict[str, Any]) -> bool:
    """Whether an intervals row was computed from this score row's values (not stale)."""
    for value in INTERVAL_VALUES:
        a, b = cell.get(value), row.get(value)
        if a is None and b is None:
            continue
        if not all(isinstance(v, (int, float)) for v in (a, b)):
            return False
        if not math.isclose(a, b, abs_tol=1e-9):
            return False
    return True


def _interval(row: dict[str, Any], value: str) -> tuple[float, float] | None:
    """A row's interval of ``value``: bootstrap fields, or a predicted row's own."""
    if row.get("predicted"):
        keys = ("pg_lo", "pg_hi") if value == "pg_score" else ("lo", "hi")
        if value != "pg_score" and row.get("target") != value:
            return None
    else:
        keys = (f"{value}_lo", f"{value}_hi")
    return _pair(row, *keys)


def _pair(row: dict[str, Any], lo_key: str, hi_key: str) -> tuple[float, float] | None:
    lo, hi = row.get(lo_key), row.get(hi_key)
    ok = all(isinstance(v, (int, float)) and math.isfinite(v) for v in (lo, hi))
    return (float(lo), float(hi)) if ok else None


def _bounds(interval: tuple[float, float] | None) -> str:
    return "" if interval is None else f"[{interval[0]:.2f}, {interval[1]:.2f}]"


def _mean(values: Sequence[Any]) -> float | None:
    kept = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return sum(kept) / len(kept) if kept else None


def _fmt(
    value: float | None, ill: bool = False, interval: tuple[float, float] | None = None
) -> str:
    if value is None:
        return "n/a"
    bounds = f" {_bounds(interval)}" if interval else ""
    return f"{value:.3f}{bounds}{ILL_MARK if ill else ''}"


def _link(row: dict[str, Any], kind: str, endpoint: str) -> str:
    repo, revision = row.get(f"{kind}_repo"), row.get(f"{kind}_revision")
    if not repo:
        return ""
    prefix = "datasets/" if kind == "dataset" else ""
    ref = f"/tree/{revision}" if revision else ""
    name = "data" if kind == "dataset" else str(row.get("language"))
    label = f"{name}@{revision[:7]}" if revision else name
    return f"[{label}]({endpoint.rstrip('/')}/{prefix}{repo}{ref})"


def filter_rows(
    rows: Sequence[dict[str, Any]], language: str = ALL, family: str = ALL
) -> list[dict[str, Any]]:
    """Rows of one language and/or student family (``All`` keeps every value)."""
    return [
        r
        for r in rows
        if language in (ALL, None, r.get("language"))
        and family in (ALL, None, r.get("student_family"))
    ]


def overall_table(
    rows: Sequence[dict[str, Any]], endpoint: str = DEFAULT_ENDPOINT, *, ranked: bool = True
) -> Any:
    """One line per (teacher, student family), means over languages, best PG-Score first.

    Values stay numbers so clicking a header sorts them numerically; the
    ill-conditioned count gets its own column instead of a mark inside the number.
    ``GPU-hours`` is what benchmarking the teacher cost (blank where rows carry no
    ``gpu_hours``, as in leaderboards published before it was measured). Rows with
    bootstrap fields add a ``Rank`` (``=2``: a tie group) and 95 % interval columns;
    ``ranked=False`` (a language picked) leaves them blank, since they describe the mean
    over all languages. Predicted rows come last, their teacher marked ``(predicted)``.
    """
    import pandas as pd

    groups: dict[tuple[str, str, bool], list[dict[str, Any]]] = {}
    gpu_hours: dict[str, list[Any]] = {}
    for row in rows:
        key = (row["teacher"], row["student_family"], bool(row.get("predicted")))
        groups.setdefault(key, []).append(row)
        gpu_hours.setdefault(row["teacher"], []).append(row.get("gpu_hours"))
    with_intervals = any(r.get("interval_replicates") is not None for r in rows)
    lines = []
    for (teacher, family, predicted), members in groups.items():
        ill = sum(bool(r.get("pgr_ill_conditioned")) for r in members)
        name = teacher + (PREDICTED_MARK if predicted else "")
        line: dict[str, Any] = {"Rank": "", "Teacher": name, "Student family": family}
        for key, title in VALUES.items():
            mean = _mean([r.get(key) for r in members])
            line[title] = None if mean is None else round(mean, 3)
        shown = ranked and not predicted  # a teacher's rank: the mean over all its languages
        for key in RANKED:
            pair = _pair(members[0], f"avg_{key}_lo", f"avg_{key}_hi") if shown else None
            line[f"{VALUES[key]} 95% CI"] = _bounds(pair)
        line["Rank"] = (members[0].get("rank_pg_score") or "") if shown else ""
        hours = _mean(gpu_hours[teacher])  # the teacher's whole benchmark, not this family's
        line[GPU_HOURS] = None if hours is None else round(hours, 3)
        line["Languages"] = ", ".join(sorted({r["language"] for r in members}))
        line["PGR ill-conditioned"] = f"{ILL_MARK} {ill}/{len(members)}" if ill else "no"
        line["Data"] = " ".join(sorted({_link(r, "dataset", endpoint) for r in members} - {""}))
        line["Students"] = " ".join(sorted({_link(r, "model", endpoint) for r in members} - {""}))
        order = _mean([r.get("pg_score") for r in members])
        lines.append((predicted, -(order if order is not None else -math.inf), name, line))
    lines.sort(key=lambda item: item[:3])
    columns = [*(["Rank"] if with_intervals else []), "Teacher", "Student family"]
    for key, title in VALUES.items():  # an interval column right after its value
        columns += [title, f"{title} 95% CI"] if with_intervals and key in RANKED else [title]
    columns += [GPU_HOURS, "Languages", "PGR ill-conditioned", "Data", "Students"]
    return pd.DataFrame([line for *_, line in lines], columns=columns)


def datatypes(columns: Sequence[str]) -> list[str]:
    """Gradio's column types: numbers sort numerically, links render as markdown."""
    numbers = {*VALUES.values(), GPU_HOURS}
    return [
        "number" if c in numbers else "markdown" if c in ("Data", "Students") else "str"
        for c in columns
    ]


def language_table(
    rows: Sequence[dict[str, Any]], value: str = "pg_score", *, ranked: bool = True
) -> Any:
    """Teacher x language grid of one value (mean over the families shown).

    A cell of one row shows its interval; with one family shown (and ``ranked``), the
    average shows the teacher's interval and rank for the values that have them.
    """
    import pandas as pd

    languages = sorted({r["language"] for r in rows})
    one_family = len({r["student_family"] for r in rows}) == 1
    teachers: dict[tuple[str, bool], dict[str, list[dict[str, Any]]]] = {}
    for row in rows:
        key = (row["teacher"], bool(row.get("predicted")))
        teachers.setdefault(key, {}).setdefault(row["language"], []).append(row)
    lines = []
    for (teacher, predicted), by_lang in teachers.items():
        line: dict[str, Any] = {"Teacher": teacher + (PREDICTED_MARK if predicted else "")}
        for lang in languages:
            members = by_lang.get(lang, [])
            ill = value in _MARKED and any(r.get("pgr_ill_conditioned") for r in members)
            interval = _interval(members[0], value) if len(members) == 1 else None
            mean = _mean([r.get(value) for r in members])
            line[lang] = _fmt(mean, ill, interval) if members else ""
        members = [r for rs in by_lang.values() for r in rs]
        avg = _mean([r.get(value) for r in members])
        ill = value in _MARKED and any(r.get("pgr_ill_conditioned") for r in members)
        show = ranked and one_family and not predicted and value in RANKED
        first = members[0]
        interval = _pair(first, f"avg_{value}_lo", f"avg_{value}_hi") if show else None
        rank = first.get(f"rank_{value}") if show else None
        line[f"avg {VALUES[value]}"] = (f"{rank}: " if rank else "") + _fmt(avg, ill, interval)
        lines.append((predicted, -(avg if avg is not None else -math.inf), teacher, line))
    lines.sort(key=lambda item: item[:3])
    columns = ["Teacher", f"avg {VALUES[value]}", *languages]
    return pd.DataFrame([line for *_, line in lines], columns=columns)


def build_app(rows: Sequence[dict[str, Any]], *, endpoint: str = DEFAULT_ENDPOINT) -> Any:
    """The Gradio Blocks: filters, the overall table and the per-language breakdown."""
    import gradio as gr

    rows = list(rows)
    languages = [ALL, *sorted({r["language"] for r in rows})]
    families = [ALL, *sorted({r["student_family"] for r in rows})]
    versions = sorted({str(r.get("harness_version")) for r in rows if r.get("harness_version")})

    protocols = sorted({str(r["protocol"]) for r in rows if r.get("protocol")})
    with_intervals = any(r.get("interval_replicates") is not None for r in rows)

    def refresh(language: str, family: str, value: str) -> tuple[Any, Any]:
        shown = filter_rows(rows, language, family)
        key = next(k for k, title in VALUES.items() if title == value)
        ranked = language in (ALL, None)
        return overall_table(shown, endpoint, ranked=ranked), language_table(shown, key, ranked=ranked)  # fmt: skip

    first = refresh(ALL, ALL, VALUES["pg_score"])
    with gr.Blocks(title="Polyglot Teachers leaderboard") as app:
        gr.Markdown(
            "# Polyglot Teachers leaderboard\n"
            "How well does each language model **teach**? Students fine-tuned on its "
            "synthetic data in each language, scored against their base and a reference "
            f"model (PGR), plus intrinsic data quality (z). {len(rows)} score rows"
            + (f"; polyglot-harness {', '.join(versions)}." if versions else ".")
            + (f"\n\nProtocol: {', '.join(f'`{p}`' for p in protocols)}." if protocols else "")
        )
        with gr.Row():
            language = gr.Dropdown(languages, value=ALL, label="Language")
            family = gr.Dropdown(families, value=ALL, label="Student family")
            value = gr.Dropdown(
                list(VALUES.values()), value=VALUES["pg_score"], label="Per-language value"
            )
        overall = gr.Dataframe(
            value=first[0],
            label="Teachers (sortable: click a column header)",
            datatype=datatypes(first[0].columns),
            interactive=False,
            elem_id="overall",
        )
        gr.Markdown("## Per-language breakdown")
        per_language = gr.Dataframe(
            value=first[1], label="Teacher x language", interactive=False, elem_id="per-language"
        )
        gr.Markdown(FOOTNOTE + ("\n\n" + INTERVAL_NOTE if with_intervals else ""))
        for control in (language, family, value):
            control.change(refresh, [language, family, value], [overall, per_language])
    return app


def _space_dataset() -> str | None:
    """The dataset named by ``publish`` next to this file (the Space's configuration)."""
    config = Path(__file__).with_name(SPACE_CONFIG)
    if config.is_file():
        return json.loads(config.read_text(encoding="utf-8")).get("dataset")
    return os.environ.get("POLYGLOT_LEADERBOARD_DATASET")


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the leaderboard; on a Space (no arguments) read the published dataset."""
    parser = argparse.ArgumentParser(description="Serve the Polyglot Teachers leaderboard.")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--scores", help="scores.jsonl (or its folder) of a local run")
    source.add_argument("--dataset", help="leaderboard dataset repo id (org/name) on the Hub")
    parser.add_argument("--revision", default=None, help="dataset revision (default: main)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    dataset = args.dataset or (None if args.scores else _space_dataset())
    rows = load_rows(args.scores, dataset, revision=args.revision)
    endpoint = os.environ.get("HF_ENDPOINT", DEFAULT_ENDPOINT)
    app = build_app(rows, endpoint=endpoint)
    if os.environ.get("SPACE_ID"):  # on a Space the platform picks the address
        app.launch()
    else:
        app.launch(server_name=args.host, server_port=args.port, show_error=True)


if __name__ == "__main__":
    main()
