from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.vector_index import build_vector_index, load_vector_index, save_vector_index, search


def _unit(rows: int, dim: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(rows, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_flat_is_exact_cosine_search_with_the_given_ids() -> None:
    gallery, queries = _unit(200, 16), _unit(5, 16, seed=1)
    ids = np.arange(1000, 1200)
    cosines, found = search(build_vector_index(gallery, ids), queries, k=3)
    expected = np.argsort(-(queries @ gallery.T), axis=1)[:, :3]
    np.testing.assert_array_equal(found, ids[expected])
    np.testing.assert_allclose(cosines, np.take_along_axis(queries @ gallery.T, expected, axis=1), atol=1e-5)


def test_hnsw_and_ivf_pq_find_the_exact_neighbour_of_a_gallery_vector(tmp_path: Path) -> None:
    gallery = _unit(2000, 16)
    for factory in ("HNSW32", "IVF16,PQ4"):
        index = build_vector_index(gallery, np.arange(2000), factory)
        save_vector_index(index, tmp_path / "i.faiss")
        _, found = search(load_vector_index(tmp_path / "i.faiss"), gallery[:50], k=1)
        assert np.mean(found[:, 0] == np.arange(50)) >= 0.9, factory


def test_k_larger_than_the_gallery_returns_the_whole_gallery() -> None:
    _, found = search(build_vector_index(_unit(3, 8), np.arange(3)), _unit(1, 8, 1), k=10)
    assert sorted(found[0].tolist()) == [0, 1, 2]


@pytest.mark.parametrize(
    ("factory", "message"),
    [("Bogus", "factory string"), ("IVF64,Flat", "needs at least 64 gallery images"), ("PQ5", "factory string")],
)
def test_bad_factory_strings_are_clear_errors(factory: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_vector_index(_unit(20, 16), np.arange(20), factory)
