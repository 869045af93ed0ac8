"""Classifying test embeddings from labelled train embeddings, and scoring the predictions.

Two classifiers that need no training beyond the embedding itself: the nearest class mean (Mensink, Verbeek,
Perronnin, Csurka, "Distance-Based Image Classification: Generalizing to New Classes at Near-Zero Cost", TPAMI
2013) and the k-nearest-neighbour vote (Cover & Hart, "Nearest neighbor pattern classification", 1967).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from numpy.typing import ArrayLike

from model.evaluation.neighbors import as_matrix, nearest_neighbors


def _encode(labels: ArrayLike, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct labels and each label's index among them."""
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise ValueError(f"expected {n} labels, got shape {labels.shape}")
    classes, codes = np.unique(labels, return_inverse=True)
    return classes, codes.reshape(-1)


def ncm_predict(train_emb: ArrayLike, train_labels: ArrayLike, test_emb: ArrayLike) -> np.ndarray:
    """The label of the nearest class mean (Euclidean) of the train embeddings, for each test embedding."""
    train = as_matrix(train_emb)
    classes, codes = _encode(train_labels, len(train))
    sums = np.zeros((len(classes), train.shape[1]), dtype=np.float64)
    np.add.at(sums, codes, train)
    means = (sums / np.bincount(codes)[:, None]).astype(train.dtype)
    _, nearest = nearest_neighbors(test_emb, means, 1)
    return classes[nearest[:, 0]]


def knn_predict(train_emb: ArrayLike, train_labels: ArrayLike, test_emb: ArrayLike, k: int) -> np.ndarray:
    """The majority label among the ``k`` nearest train embeddings, for each test embedding.

    A tie in votes goes to the label whose neighbours have the smallest summed distance, then to the label of the
    nearest neighbour among the tied ones.
    """
    train = as_matrix(train_emb)
    classes, codes = _encode(train_labels, len(train))
    distances, indices = nearest_neighbors(test_emb, train, k)
    votes = codes[indices]
    predicted = np.empty(len(votes), dtype=np.int64)
    rows = max(1, 2**20 // (k * k))  # bounds the (rows, k, k) comparison
    for start in range(0, len(votes), rows):
        v, d = votes[start : start + rows], distances[start : start + rows]
        same = v[:, :, None] == v[:, None, :]  # same[i, j, l]: neighbours j and l of query i share a label
        count = same.sum(axis=2)
        summed = (same * d[:, None, :]).sum(axis=2)
        best = np.lexsort((summed, -count), axis=1)[:, 0]  # lexsort is stable: among full ties, the nearest
        predicted[start : start + rows] = v[np.arange(len(v)), best]
    return classes[predicted]


def _pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim != 1 or y_true.shape != y_pred.shape or not len(y_true):
        raise ValueError(f"expected two non-empty 1-D label arrays of one length, got {y_true.shape}, {y_pred.shape}")
    return y_true, y_pred


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """The fraction of predictions equal to the true label."""
    y_true, y_pred = _pair(y_true, y_pred)
    return float(np.mean(y_true == y_pred))


def per_class_accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """The mean over the classes present in ``y_true`` of each class's accuracy (balanced accuracy)."""
    y_true, y_pred = _pair(y_true, y_pred)
    _, codes = np.unique(y_true, return_inverse=True)
    codes = codes.reshape(-1)
    correct = np.bincount(codes, weights=y_true == y_pred)
    return float(np.mean(correct / np.bincount(codes)))


def confusions(y_true: ArrayLike, y_pred: ArrayLike, top: int = 10) -> list[tuple[object, object, int]]:
    """The ``top`` most frequent errors as (true label, predicted label, count), most frequent first.

    Errors equally frequent keep the order in which they first occur.
    """
    y_true, y_pred = _pair(y_true, y_pred)
    wrong = y_true != y_pred
    counts = Counter(zip(y_true[wrong].tolist(), y_pred[wrong].tolist()))
    return [(true, pred, count) for (true, pred), count in counts.most_common(top)]
