"""FAISS (Johnson, Douze, Jégou, "Billion-scale similarity search with GPUs", 2017) over unit-length embeddings.

The index is chosen by a FAISS index-factory string, wrapped in ``IndexIDMap2`` so every vector carries the
stable id of its metadata row. The default, ``Flat``, is exact: an inner product over unit vectors is the
cosine similarity, and the Euclidean distance follows from it (``d^2 = 2 - 2 cos``). For galleries far larger
than LFW, ``HNSW32`` (a graph, no training) or ``IVF<n>,PQ<m>`` (trained on the gallery itself) trade a little
recall for speed and memory.
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

DEFAULT_FACTORY = "Flat"


def _check_vectors(vectors: np.ndarray) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise ValueError(f"expected an (N, D) matrix of embeddings, got shape {vectors.shape}")
    return vectors


def _training_needs(index: faiss.Index) -> tuple[int, str]:
    """The fewest vectors an untrained index trains on, and what they train: an IVF's lists, a PQ's centroids
    (``2^nbits`` per sub-quantizer), through pre-transforms and HNSW storage."""
    index = faiss.downcast_index(index)
    needs = (1, "")
    if hasattr(index, "nlist"):
        needs = max(needs, (int(index.nlist), f"{int(index.nlist)} lists"))
    if hasattr(index, "pq"):
        needs = max(needs, (int(index.pq.ksub), f"{int(index.pq.ksub)} product-quantizer centroids"))
    for inner in ("index", "storage"):
        if hasattr(index, inner) and getattr(index, inner) is not None:
            needs = max(needs, _training_needs(getattr(index, inner)))
    return needs


def _new_index(factory: str, dim: int, count: int) -> faiss.Index:
    """An empty inner-product index of ``factory``; ``ValueError`` when FAISS cannot build it, or when its training
    needs more than the ``count`` gallery images."""
    if not isinstance(factory, str) or not factory.strip():
        raise ValueError("the FAISS factory string is empty: use one such as 'Flat', 'HNSW32' or 'IVF256,PQ16'")
    try:
        inner = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as error:
        raise ValueError(
            f"FAISS cannot build index {factory!r} for dimension {dim}: use a factory string such as "
            f"'Flat', 'HNSW32' or 'IVF256,PQ16' (PQ's m must divide the dimension)"
        ) from error
    if not inner.is_trained:
        needed, what = _training_needs(inner)
        if count < needed:
            raise ValueError(
                f"index {factory!r} needs at least {needed} gallery images to train its {what}, "
                f"the gallery has {count}: use fewer lists or centroids, or 'Flat'"
            )
    return inner


def check_factory(factory: str, dim: int, count: int) -> None:
    """``ValueError``, saying what to use instead, unless an index of ``factory`` can be built and trained over
    ``count`` vectors of dimension ``dim``: checked before any image is embedded, without training anything."""
    _new_index(factory, dim, count)


def build_vector_index(vectors: np.ndarray, ids: np.ndarray, factory: str = DEFAULT_FACTORY) -> faiss.Index:
    """An inner-product index of ``factory`` over ``vectors``, with ``ids``; trained on them when it must be."""
    vectors = _check_vectors(vectors)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    if len(ids) != len(vectors):
        raise ValueError(f"{len(vectors)} vectors but {len(ids)} ids")
    inner = _new_index(factory, vectors.shape[1], len(vectors))
    if not inner.is_trained:
        inner.train(vectors)
    index = faiss.IndexIDMap2(inner)
    index.add_with_ids(vectors, ids)
    return index


def search(index: faiss.Index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most similar gallery vectors per query: ``(cosine similarities, ids)``, best first.

    Fewer than ``k`` results come back as id -1 when the gallery is smaller; callers drop them.
    """
    queries = _check_vectors(queries)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    similarities, ids = index.search(queries, min(k, max(index.ntotal, 1)))
    return similarities, ids


def save_vector_index(index: faiss.Index, path: Path) -> None:
    faiss.write_index(index, str(path))


def load_vector_index(path: Path) -> faiss.Index:
    return faiss.read_index(str(path))
