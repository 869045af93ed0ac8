"""Pair verification as in the Labeled Faces in the Wild protocol (Huang, Ramesh, Berg, Learned-Miller, "Labeled
Faces in the Wild: A Database for Studying Face Recognition in Unconstrained Environments", 2007).

A pair is called "same" when the distance between its embeddings is at most a threshold. On the 10-fold
``pairs.txt`` the threshold for each fold is chosen on the nine others and the fold's accuracy is reported as
mean and standard deviation over folds; ``pairsDevTrain.txt`` -> ``pairsDevTest.txt`` fits it on one set and
applies it to the other. The area under the ROC curve (Fawcett, "An introduction to ROC analysis", 2006) scores
every pair by its negated distance and needs no threshold.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import roc_auc_score, roc_curve


def _pairs(distances: ArrayLike, same: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    distances, same = np.asarray(distances, dtype=np.float64), np.asarray(same)
    if distances.ndim != 1 or distances.shape != same.shape or not len(distances):
        raise ValueError(f"expected non-empty 1-D distances and labels of one length: {distances.shape}, {same.shape}")
    return distances, same.astype(bool)


def _accuracy_at(distances: np.ndarray, same: np.ndarray, threshold: float) -> float:
    return float(np.mean((distances <= threshold) == same))


def best_threshold(distances: ArrayLike, same: ArrayLike) -> tuple[float, float]:
    """The threshold with the best accuracy on these pairs (the smallest if several tie), and that accuracy.

    Candidates are the midpoints between consecutive distinct distances, plus the smallest distance minus 1 (all
    pairs "different") and the largest plus 1 (all "same").
    """
    distances, same = _pairs(distances, same)
    u = np.unique(distances)
    candidates = np.concatenate(([u[0] - 1.0], (u[:-1] + u[1:]) / 2, [u[-1] + 1.0]))
    true_same = np.searchsorted(np.sort(distances[same]), candidates, side="right")
    different = np.sort(distances[~same])
    true_different = len(different) - np.searchsorted(different, candidates, side="right")
    accuracies = (true_same + true_different) / len(distances)
    best = int(np.argmax(accuracies))
    return float(candidates[best]), float(accuracies[best])


def _auc(distances: np.ndarray, same: np.ndarray) -> float:
    return float(roc_auc_score(same, -distances))


def kfold_verification(distances: ArrayLike, same: ArrayLike, folds: ArrayLike) -> dict[str, object]:
    """Cross-validated verification over the folds named by ``folds`` (one fold id per pair).

    Returns ``acc`` (mean test-fold accuracy), ``std`` (its population standard deviation), ``auc`` (over all
    pairs) and ``thresholds`` (the threshold applied to each fold, in increasing fold id).
    """
    distances, same = _pairs(distances, same)
    folds = np.asarray(folds)
    if folds.shape != distances.shape:
        raise ValueError(f"expected one fold id per pair, got shape {folds.shape}")
    fold_ids = np.unique(folds)
    if len(fold_ids) < 2:
        raise ValueError("k-fold verification needs at least two folds")
    accuracies, thresholds = [], []
    for fold in fold_ids:
        test = folds == fold
        threshold, _ = best_threshold(distances[~test], same[~test])
        accuracies.append(_accuracy_at(distances[test], same[test], threshold))
        thresholds.append(threshold)
    return {
        "acc": float(np.mean(accuracies)),
        "std": float(np.std(accuracies)),
        "auc": _auc(distances, same),
        "thresholds": thresholds,
    }


def transfer_verification(
    train_d: ArrayLike, train_same: ArrayLike, test_d: ArrayLike, test_same: ArrayLike
) -> dict[str, float]:
    """Fits the threshold on the train pairs; ``acc`` and ``auc`` are on the test pairs, with ``threshold``."""
    threshold, _ = best_threshold(train_d, train_same)
    test_d, test_same = _pairs(test_d, test_same)
    return {"acc": _accuracy_at(test_d, test_same, threshold), "auc": _auc(test_d, test_same), "threshold": threshold}


def roc_curve_points(distances: ArrayLike, same: ArrayLike) -> tuple[list[float], list[float]]:
    """False and true positive rates of the ROC curve, "same" being positive and scored by -distance."""
    distances, same = _pairs(distances, same)
    fpr, tpr, _ = roc_curve(same, -distances)
    return fpr.tolist(), tpr.tolist()
