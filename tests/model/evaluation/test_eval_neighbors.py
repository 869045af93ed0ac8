from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics.pairwise import euclidean_distances

from model.evaluation import nearest_neighbors, pairwise_distances


def test_pairwise_distances_by_hand() -> None:
    a = np.array([[0.0, 0.0], [3.0, 4.0]])
    b = np.array([[0.0, 0.0], [0.0, 1.0], [6.0, 8.0]])
    # |(0,0)-(0,0)| = 0, |(0,0)-(0,1)| = 1, |(0,0)-(6,8)| = 10
    # |(3,4)-(0,0)| = 5, |(3,4)-(0,1)| = sqrt(9+9), |(3,4)-(6,8)| = sqrt(9+16) = 5
    expected = np.array([[0.0, 1.0, 10.0], [5.0, np.sqrt(18.0), 5.0]])
    np.testing.assert_allclose(pairwise_distances(a, b), expected, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("chunk_size", [1, 7, 1024])
def test_pairwise_distances_match_sklearn_in_any_chunking(dtype: type, chunk_size: int) -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(50, 8)).astype(dtype), rng.normal(size=(30, 8)).astype(dtype)
    got = pairwise_distances(a, b, chunk_size=chunk_size)
    assert got.dtype == dtype and got.shape == (50, 30)
    expected = euclidean_distances(a.astype(np.float64), b.astype(np.float64))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_rounding_never_makes_a_distance_nan() -> None:
    # in float32, ||x||^2 + ||x||^2 - 2 x.x rounds to a tiny negative number for some x: it must be clipped to 0
    x = (100 + np.random.default_rng(3).normal(size=(200, 16))).astype(np.float32)
    diagonal = np.diag(pairwise_distances(x, x))
    assert np.isfinite(diagonal).all() and (diagonal >= 0).all() and (diagonal == 0).any()


def test_nearest_neighbors_by_hand_excluding_self() -> None:
    x = np.array([[0.0], [1.0], [3.0], [7.0]])
    distances, indices = nearest_neighbors(x, x, 2, exclude_self=True)
    # 0: 1 at 1, 3 at 3;  1: 0 at 1, 3 at 2;  3: 1 at 2, 0 at 3;  7: 3 at 4, 1 at 6
    np.testing.assert_array_equal(indices, [[1, 2], [0, 2], [1, 0], [2, 1]])
    np.testing.assert_allclose(distances, [[1, 3], [1, 2], [2, 3], [4, 6]])


def test_nearest_neighbors_includes_self_unless_excluded() -> None:
    x = np.array([[0.0], [1.0], [3.0], [7.0]])
    _, indices = nearest_neighbors(x, x, 1)
    np.testing.assert_array_equal(indices[:, 0], [0, 1, 2, 3])


@pytest.mark.parametrize("exclude_self", [False, True])
def test_nearest_neighbors_match_a_full_sort(exclude_self: bool) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 5))
    query = x if exclude_self else rng.normal(size=(40, 5))
    full = euclidean_distances(query, x)
    if exclude_self:
        np.fill_diagonal(full, np.inf)
    distances, indices = nearest_neighbors(query, x, 6, exclude_self=exclude_self, chunk_size=9)
    np.testing.assert_array_equal(indices, np.argsort(full, axis=1)[:, :6])
    np.testing.assert_allclose(distances, np.sort(full, axis=1)[:, :6], atol=1e-9)
    assert (np.diff(distances, axis=1) >= 0).all()


def test_nearest_neighbors_can_return_every_other_point() -> None:
    x = np.arange(5.0)[:, None]
    distances, indices = nearest_neighbors(x, x, 4, exclude_self=True)
    assert np.isfinite(distances).all()
    assert all(i not in row for i, row in enumerate(indices))


def test_nearest_neighbors_rejects_bad_arguments() -> None:
    x = np.zeros((4, 2))
    with pytest.raises(ValueError):
        nearest_neighbors(x, x, 4, exclude_self=True)
    with pytest.raises(ValueError):
        nearest_neighbors(x, x, 0)
    with pytest.raises(ValueError):
        nearest_neighbors(x[:3], x, 1, exclude_self=True)
    with pytest.raises(ValueError):
        nearest_neighbors(x, np.zeros((4, 3)), 1)
