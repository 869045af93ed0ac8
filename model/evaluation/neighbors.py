"""Exact Euclidean distances and k-nearest neighbours in numpy, computed in blocks of query rows.

Squared distances use the expansion ||a - b||^2 = ||a||^2 + ||b||^2 - 2 a.b, so a block is one matrix product
(the usual brute-force search, as in Johnson, Douze, Jegou, "Billion-scale similarity search with GPUs", 2019);
rounding can make it slightly negative, hence the clip at 0 before the square root. Blocks bound the working
memory to ``chunk_size`` rows of distances whatever the number of queries.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

CHUNK_SIZE = 1024
"""Query rows per block: 1024 rows against 25k references is about 100 MB of float32 distances."""


def as_matrix(x: ArrayLike) -> np.ndarray:
    """``x`` as a 2-D floating array (float32 and float64 kept, anything else made float64)."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D array of embeddings, got shape {x.shape}")
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)


def _common(a: ArrayLike, b: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    a, b = as_matrix(a), as_matrix(b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"dimensions differ: {a.shape[1]} and {b.shape[1]}")
    dtype = np.result_type(a, b)
    return a.astype(dtype, copy=False), b.astype(dtype, copy=False)


def squared_norms(x: np.ndarray) -> np.ndarray:
    """Row-wise squared Euclidean norms."""
    return np.einsum("ij,ij->i", x, x)


def _distances_into(out: np.ndarray, a: np.ndarray, b: np.ndarray, b_sq: np.ndarray) -> np.ndarray:
    np.matmul(a, b.T, out=out)
    out *= -2
    out += squared_norms(a)[:, None]
    out += b_sq[None, :]
    np.maximum(out, 0, out=out)
    return np.sqrt(out, out=out)


def pairwise_distances(a: ArrayLike, b: ArrayLike, chunk_size: int = CHUNK_SIZE) -> np.ndarray:
    """Euclidean distances between the rows of ``a`` (n, d) and ``b`` (m, d), as an (n, m) array.

    Written block by block into the result, so the only memory beyond the result is a few vectors.
    """
    a, b = _common(a, b)
    out = np.empty((len(a), len(b)), dtype=a.dtype)
    b_sq = squared_norms(b)
    for start in range(0, len(a), chunk_size):
        _distances_into(out[start : start + chunk_size], a[start : start + chunk_size], b, b_sq)
    return out


def block_neighbors(
    query: np.ndarray,
    reference: np.ndarray,
    k: int,
    reference_sq: np.ndarray,
    self_indices: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest rows of ``reference`` for one block of queries, nearest first.

    ``query`` and ``reference`` share a dtype; ``reference_sq`` are the reference's squared norms. Row ``i`` never
    gets ``reference[self_indices[i]]`` as a neighbour (its distance is set to +inf). Equal distances are ordered
    by reference index.
    """
    d = _distances_into(np.empty((len(query), len(reference)), dtype=query.dtype), query, reference, reference_sq)
    if self_indices is not None:
        d[np.arange(len(d)), self_indices] = np.inf
    if k < d.shape[1]:
        idx = np.argpartition(d, k - 1, axis=1)[:, :k]
    else:
        idx = np.broadcast_to(np.arange(d.shape[1]), d.shape)
    dist = np.take_along_axis(d, idx, axis=1)
    order = np.lexsort((idx, dist), axis=1)
    return np.take_along_axis(dist, order, axis=1), np.take_along_axis(idx, order, axis=1).astype(np.int64)


def nearest_neighbors(
    query: ArrayLike,
    reference: ArrayLike,
    k: int,
    exclude_self: bool = False,
    chunk_size: int = CHUNK_SIZE,
) -> tuple[np.ndarray, np.ndarray]:
    """Distances and indices (both (n_query, k)) of the ``k`` nearest reference rows of each query, ascending.

    With ``exclude_self``, ``query`` and ``reference`` are the same set and point ``i`` is not its own neighbour.
    """
    query, reference = _common(query, reference)
    if exclude_self and len(query) != len(reference):
        raise ValueError("exclude_self needs the query and reference to be the same set")
    available = len(reference) - int(exclude_self)
    if not 1 <= k <= available:
        raise ValueError(f"k={k} is outside 1..{available}")
    reference_sq = squared_norms(reference)
    distances = np.empty((len(query), k), dtype=query.dtype)
    indices = np.empty((len(query), k), dtype=np.int64)
    for start in range(0, len(query), chunk_size):
        stop = min(start + chunk_size, len(query))
        self_indices = np.arange(start, stop) if exclude_self else None
        distances[start:stop], indices[start:stop] = block_neighbors(
            query[start:stop], reference, k, reference_sq, self_indices
        )
    return distances, indices
