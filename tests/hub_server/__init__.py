"""A local Hugging Face Hub that the real ``huggingface_hub``, ``datasets`` and
``transformers`` clients talk to through ``HF_ENDPOINT``.

Why: our publish and load paths are tested against the real clients (CONTRIBUTING: never
mock), nothing can reach huggingface.co from CI, and no open-source Hub server exists. This
one implements the part of the protocol those clients use, read off their source
(huggingface_hub 2.4 ``hf_api.py``, ``_commit_api.py``, ``lfs.py``, ``file_download.py``,
``utils/_http.py``, ``hf_file_system.py``; datasets 5.2 ``arrow_dataset.py``, ``load.py``)::

    GET  /api/whoami-v2
    POST /api/repos/create   DELETE /api/repos/delete   POST /api/validate-yaml
    GET  /api/{type}s/{ns}/{name}[/revision/{rev}]         info: sha, siblings, cardData, private
    GET  /api/{type}s/{ns}/{name}/tree/{rev}[/{path}]      ?recursive=&expand=, one page
    POST /api/{type}s/{ns}/{name}/paths-info/{rev}
    POST /api/{type}s/{ns}/{name}/preupload/{rev}          "regular" or "lfs" per file
    POST /api/{type}s/{ns}/{name}/commit/{branch}          NDJSON: header, file, lfsFile, deleted*
    GET  /api/{type}s/{ns}/{name}/refs | /commits/{rev}
    POST|DELETE /api/{type}s/{ns}/{name}/branch/{branch}    PUT .../settings
    POST /[{type}s/]{ns}/{name}.git/info/lfs/objects/batch | .../verify
    PUT  /_lfs/{sha256}?sig=...                             signed basic-transfer upload, no token
    GET|HEAD /[{type}s/]{ns}/{name}/resolve/{rev}/{path}    X-Repo-Commit, ETag, X-Linked-*, Range

Not implemented: Xet (run clients with ``HF_HUB_DISABLE_XET=1``), pull requests, tags,
gated repos, pagination (every listing is one page). Repo ids need a namespace. Any valid
token reads every private repo; a "write" token writes to any namespace. Errors carry
``X-Error-Code``/``X-Error-Message`` so the client raises ``RepositoryNotFoundError``,
``RevisionNotFoundError`` and ``RemoteEntryNotFoundError`` exactly as against the real Hub.

Storage is a folder: ``objects/<sha256>`` holds file contents, ``repos/<type>s/<ns>/<name>.json``
each repo's branches and full commit history (so ``revision=<old sha>`` keeps working).

Layout: ``storage`` (repos, commits, objects, errors), ``handler`` (URL table, auth, request
log), ``routes`` (the endpoints) and ``server`` (what tests hold); only the server is public.
"""

from __future__ import annotations

from .server import HubServer, start_hub_server

__all__ = ["HubServer", "start_hub_server"]
