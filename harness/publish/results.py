"""Push lm-eval results and per-sample details in the layout lm-eval's own tracker uses.

``lm_eval --hf_hub_log_args`` (``loggers/evaluation_tracker.py``) files a run as
``<model_name_sanitized>/results_<date>.json`` plus
``<model_name_sanitized>/samples_<task>_<date>.jsonl`` in one dataset repo, and
rebuilds the README so each ``<model>__results`` / ``<model>__<task>`` is a config with
one split per run date and a ``latest`` split. We reproduce that layout (one commit,
not one per file) so the Hub's viewer, ``load_dataset(repo, name=...)`` and any tool
that reads lm-eval detail repos read ours too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.errors import HubError
from harness.publish.cards import details_card
from harness.publish.plan import EvalSource, PlannedRepo, RepoNames, results_model_name
from harness.publish.retry import scrub
from harness.publish.session import HubSession

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PushedResults:
    """The results repo after the push."""

    repo_id: str
    revision: str
    files: tuple[str, ...]


def _scrub_results(text: str) -> str:
    """lm-eval copies ``model_args`` verbatim into results files: drop credentials."""
    from harness.redact import scrub_model_args

    try:
        data = json.loads(text)
    except ValueError:
        return text
    config = data.get("config") if isinstance(data, dict) else None
    if isinstance(config, dict) and config.get("model_args"):
        config["model_args"] = scrub_model_args(config["model_args"])
        return json.dumps(data, indent=2, ensure_ascii=False, default=str)
    return text


def staged_files(
    evals: Sequence[EvalSource], names: RepoNames, token: str | None
) -> dict[str, bytes]:
    """Path in repo -> content of every results and samples file, token scrubbed.

    Two folders that map to the same model name and file name would silently
    overwrite each other on the Hub, so that is an error instead.
    """
    staged: dict[str, bytes] = {}
    origin: dict[str, str] = {}
    for source in evals:
        model = results_model_name(source, names)
        for file in (*source.results, *source.samples):
            name = f"{model}/{file.name}"
            if name in staged and origin[name] != str(file):
                raise HubError(
                    f"{file} and {origin[name]} would both be published as {name}; "
                    "publish them in separate runs"
                )
            text = file.read_text(encoding="utf-8")
            if file in source.results:
                text = _scrub_results(text)
            staged[name] = scrub(text, token).encode()
            origin[name] = str(file)
    return staged


def plan_results(evals: Sequence[EvalSource], names: RepoNames) -> list[PlannedRepo]:
    """The results repo a publish would write (for ``--dry-run``)."""
    if not evals:
        return []
    files = [*sorted(staged_files(evals, names, None)), "README.md"]
    return [PlannedRepo(names.results, "dataset", tuple(files), note="lm-eval details layout")]


def _latest_results(staged: dict[str, bytes]) -> dict:
    from lm_eval.utils import get_file_datetime, get_results_filenames

    names = get_results_filenames(list(staged))
    if not names:
        return {}
    newest = max(names, key=lambda n: get_file_datetime(n.rsplit("/", 1)[-1]))
    return json.loads(staged[newest]).get("results", {})


def eval_protocols(evals: Sequence[EvalSource], names: RepoNames) -> dict[str, Any]:
    """Model folder in the repo -> the protocol record its evaluation left (None: none).

    Raises:
        ConfigError: a folder whose manifest and sidecar record different protocols.
    """
    from harness.score.lm_eval_results import lm_eval_protocol

    return {results_model_name(s, names): lm_eval_protocol(s.folder)[0] for s in evals}


def _published_protocols(session: HubSession, repo_id: str) -> dict[str, Any]:
    """What the repo's card says about models pushed before: the card is rebuilt each
    publish, and an earlier run's models must keep their protocol on it."""
    from huggingface_hub import DatasetCard

    existing = session.read_text(repo_id, "dataset", "README.md")
    if not existing:
        return {}
    polyglot = DatasetCard(existing).data.to_dict().get("polyglot") or {}
    found = polyglot.get("protocol") if isinstance(polyglot, dict) else None
    return dict(found) if isinstance(found, dict) else {}


def publish_results(session: HubSession, evals: Sequence[EvalSource]) -> PushedResults | None:
    """Push every lm-eval output folder and the recreated card, in one commit."""
    if not evals:
        return None
    repo_id = session.names.results
    staged = staged_files(evals, session.names, session.token)
    protocols = eval_protocols(evals, session.names)
    session.ensure_repo(repo_id, "dataset")
    remote = session.call(
        lambda: session.api.list_repo_files(repo_id, repo_type="dataset"),
        repo_id=repo_id,
        action="list files of",
    )
    everything = sorted({*remote, *staged} - {"README.md", ".gitattributes"})
    protocols = {**_published_protocols(session, repo_id), **protocols}
    staged["README.md"] = details_card(
        repo_id, everything, _latest_results(staged), endpoint=session.endpoint,
        protocols=protocols,
    ).encode()  # fmt: skip
    logger.info("pushing %d lm-eval files to %s", len(staged) - 1, repo_id)
    sha = session.commit(repo_id, "dataset", staged, "Add lm-eval results and details")
    return PushedResults(repo_id, sha, tuple(sorted(staged)))
