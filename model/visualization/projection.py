"""2-D projections of an embedding, and the stratified subsample that keeps them legible and fast.

- ``direct``: a 2-D embedding is its own picture (the coordinates, unchanged).
- ``pca``: the plane of largest variance (linear; distances along it are faithful, neighbourhoods may overlap).
- ``tsne``: t-SNE (van der Maaten and Hinton, 2008), initialised from PCA so that runs are stable; it keeps
  neighbourhoods, not global distances (cluster sizes and gaps between clusters mean little).
"""

from __future__ import annotations

import numpy as np

METHODS = ("direct", "pca", "tsne")
METHOD_NAMES = {"direct": "direct (2-D embedding)", "pca": "PCA", "tsne": "t-SNE"}
DEFAULT_MAX_POINTS = 3000
DEFAULT_PERPLEXITY = 30.0


def methods_for(dim: int) -> tuple[str, ...]:
    """The projections worth drawing for an embedding of dimension ``dim``."""
    return ("direct",) if dim == 2 else ("pca", "tsne")


def stratified_subsample(labels: np.ndarray, max_points: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of at most ``max_points`` items, each class keeping its share (at least one item each
    while there is room for every class). Deterministic for a given ``seed``; all indices when few enough."""
    labels = np.asarray(labels)
    n = len(labels)
    if max_points < 1:
        raise ValueError(f"max_points must be at least 1, got {max_points}")
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    exact = counts * (max_points / n)
    quota = np.floor(exact).astype(np.int64)
    if len(classes) <= max_points:
        quota = np.maximum(quota, 1)
    # Hand out what is left by largest remainder (ties to the larger class, then the lower label), or take back
    # the excess from the classes furthest above their share.
    left = max_points - int(quota.sum())
    if left > 0:
        order = np.lexsort((np.arange(len(classes)), -counts, -(exact - quota)))
        order = order[quota[order] < counts[order]]
        quota[order[:left]] += 1
    while left < 0:  # the one-per-class floor overshot: trim the classes furthest above their share
        excess = np.where(quota > 1, quota - exact, -np.inf)
        quota[int(np.argmax(excess))] -= 1
        left += 1
    rng = np.random.default_rng(seed)
    chosen = [rng.permutation(np.flatnonzero(inverse == c))[: quota[c]] for c in range(len(classes))]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def tsne_perplexity(n_points: int, perplexity: float) -> float:
    """``perplexity``, lowered when there are too few points for it (t-SNE needs perplexity < n; a third of n
    is the usual ceiling)."""
    return float(max(1.0, min(perplexity, (n_points - 1) / 3)))


def project_2d(embeddings: np.ndarray, method: str, seed: int = 0, perplexity: float = DEFAULT_PERPLEXITY) -> np.ndarray:
    """float32 (N, 2) coordinates of the rows of ``embeddings`` (N, D) by ``method`` ("direct", "pca", "tsne")."""
    x = np.asarray(embeddings, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"expected embeddings of shape (N, D), got {x.shape}")
    n, dim = x.shape
    if method == "direct":
        if dim != 2:
            raise ValueError(f"the direct projection needs a 2-D embedding, this one has {dim} dimensions")
        return x.copy()
    if method not in METHODS:
        raise ValueError(f"unknown projection {method!r}; choose one of {', '.join(METHODS)}")
    if n < 3 or dim < 2:
        raise ValueError(f"{METHOD_NAMES[method]} needs at least 3 points of at least 2 dimensions, got {x.shape}")
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(x).astype(np.float32)
    from sklearn.manifold import TSNE

    tsne = TSNE(
        n_components=2,
        perplexity=tsne_perplexity(n, perplexity),
        init="pca",
        learning_rate="auto",
        random_state=seed,
    )
    return tsne.fit_transform(x).astype(np.float32)
