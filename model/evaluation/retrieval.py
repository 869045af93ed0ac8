"""Retrieval metrics of an embedding, as defined by Musgrave, Belongie, Lim, "A Metric Learning Reality Check"
(ECCV 2020).

Every point queries all the other points of the same set (leave-one-out). With R the number of other points
sharing the query's label and rel(i) = 1 when the i-th nearest of them does:

- P@1: rel(1);
- R-precision: (1/R) * sum_{i=1..R} rel(i);
- MAP@R: (1/R) * sum_{i=1..R} P(i) * rel(i), with P(i) the precision among the i nearest;

each averaged over the queries with R > 0 (a point alone in its class has nothing to retrieve and is skipped).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from model.evaluation.neighbors import CHUNK_SIZE, as_matrix, block_neighbors, squared_norms


def retrieval_metrics(embeddings: ArrayLike, labels: ArrayLike, chunk_size: int = CHUNK_SIZE) -> dict[str, float]:
    """``p_at_1``, ``r_precision`` and ``map_at_r`` of ``embeddings`` (n, d) under Euclidean distance.

    Queries go in blocks of ``chunk_size``, and each block keeps only its largest R neighbours per query.
    """
    x = as_matrix(embeddings)
    labels = np.asarray(labels)
    if labels.shape != (len(x),):
        raise ValueError(f"expected {len(x)} labels, got shape {labels.shape}")
    _, codes, counts = np.unique(labels, return_inverse=True, return_counts=True)
    codes = codes.reshape(-1)
    r_all = counts[codes] - 1
    queries = np.flatnonzero(r_all > 0)
    if not len(queries):
        raise ValueError("no point shares its label with another point")
    x_sq = squared_norms(x)
    p_at_1 = r_precision = map_at_r = 0.0
    for start in range(0, len(queries), chunk_size):
        q = queries[start : start + chunk_size]
        r = r_all[q]
        k = int(r.max())
        _, idx = block_neighbors(x[q], x, k, x_sq, self_indices=q)
        rel = (codes[idx] == codes[q][:, None]) & (np.arange(k) < r[:, None])  # relevant and within the top R
        hits = np.cumsum(rel, axis=1)
        p_at_1 += rel[:, 0].sum()
        r_precision += (hits[:, -1] / r).sum()
        map_at_r += ((hits / np.arange(1, k + 1) * rel).sum(axis=1) / r).sum()
    n = len(queries)
    return {"p_at_1": float(p_at_1 / n), "r_precision": float(r_precision / n), "map_at_r": float(map_at_r / n)}
