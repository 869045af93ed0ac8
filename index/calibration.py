"""Similarity people understand: a 0-100% score and a same-person flag, both fitted on LFW pairs.

A cosine similarity of 0.43 means little to a person. Platt scaling (Platt, "Probabilistic outputs for support
vector machines", 1999) fits ``P(same person | cos) = sigmoid(a * cos + b)`` by logistic regression on the LFW
View 2 pairs (``pairs.txt``), and the same-person threshold is the cosine with the best accuracy on them, the
point of the verification ROC where the two kinds of error balance. Only pairs of people the model never
trained on take part, so the scores hold for new faces (a user's), not just for the faces it learned.

The fit is checked the way View 2 is meant to be used: for each of the 10 folds, fit on the nine others and
measure on the held-out one (accuracy of the same-person flag, Brier score, expected calibration error).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Iterable

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score

from model.data.lfw import Pairs, unseen_pairs
from model.evaluation.verification import best_threshold

MIN_PAIRS = 200
ECE_BINS = 10


@dataclass(frozen=True)
class Calibration:
    """``similarity(cos) = 100 * sigmoid(slope * cos + intercept)``; same person when ``cos >= threshold``.

    ``threshold`` starts as the pair-verification threshold; ``with_search_threshold`` replaces it with the one a
    search of the whole gallery needs (``search``), which is stricter: among thousands of gallery images, a
    stranger's nearest one is far more alike than a random pair.
    """

    slope: float
    intercept: float
    threshold: float
    pairs: int
    heldout: dict[str, float]
    source: str
    pair_threshold: float | None = None
    search: dict[str, Any] | None = None

    def similarity(self, cosine: np.ndarray | float) -> np.ndarray:
        """Percent, 0 to 100."""
        return 100.0 / (1.0 + np.exp(-(self.slope * np.asarray(cosine, dtype=np.float64) + self.intercept)))

    def same_person(self, cosine: np.ndarray | float) -> np.ndarray:
        return np.asarray(cosine) >= self.threshold

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_search_threshold(self, search: dict[str, Any]) -> "Calibration":
        """This calibration with ``search["threshold"]`` (``fit_search_threshold``) as its same-person threshold."""
        pair = self.pair_threshold if self.pair_threshold is not None else self.threshold
        return replace(self, threshold=float(search["threshold"]), pair_threshold=pair, search=search)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Calibration":
        return cls(**values)


def _fit_curve(cosines: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    model = LogisticRegression(C=1e4).fit(cosines.reshape(-1, 1), same.astype(int))
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def _fit_threshold(cosines: np.ndarray, same: np.ndarray) -> float:
    threshold, _ = best_threshold(-cosines, same)  # "same" when -cos <= t, i.e. cos >= -t
    return -threshold


def expected_calibration_error(probabilities: np.ndarray, outcomes: np.ndarray, bins: int = ECE_BINS) -> float:
    """Mean |predicted - observed| frequency over equal-width probability bins, weighted by their size
    (Naeini, Cooper, Hauskrecht, AAAI 2015)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(probabilities, edges[1:-1]), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            error += members.mean() * abs(probabilities[members].mean() - outcomes[members].mean())
    return float(error)


def fit_calibration(cosines: np.ndarray, same: np.ndarray, folds: np.ndarray, source: str) -> Calibration:
    """Fit on every pair; the held-out figures come from fitting on all folds but one, in turn."""
    cosines, same, folds = np.asarray(cosines, dtype=np.float64), np.asarray(same, dtype=bool), np.asarray(folds)
    if len(cosines) < MIN_PAIRS or same.all() or not same.any():
        raise ValueError(
            f"calibration needs at least {MIN_PAIRS} pairs of both kinds, got {len(cosines)} ({int(same.sum())} same)"
        )
    accuracies, probabilities = [], np.empty_like(cosines)
    for fold in np.unique(folds):
        test = folds == fold
        slope, intercept = _fit_curve(cosines[~test], same[~test])
        threshold = _fit_threshold(cosines[~test], same[~test])
        probabilities[test] = 1.0 / (1.0 + np.exp(-(slope * cosines[test] + intercept)))
        accuracies.append(float(np.mean((cosines[test] >= threshold) == same[test])))
    slope, intercept = _fit_curve(cosines, same)
    heldout = {
        "accuracy": float(np.mean(accuracies)),
        "accuracy_std": float(np.std(accuracies)),
        "brier": float(brier_score_loss(same, probabilities)),
        "ece": expected_calibration_error(probabilities, same.astype(float)),
        "auc": float(roc_auc_score(same, cosines)),
        "folds": int(len(accuracies)),
    }
    return Calibration(slope, intercept, _fit_threshold(cosines, same), int(len(cosines)), heldout, source)


def calibrate_on_lfw(
    embed_paths: Callable[[list[str]], np.ndarray], pairs: Pairs, trained_people: Iterable[str]
) -> Calibration:
    """Embed the images of the View 2 pairs of unseen people (``embed_paths`` maps LFW-relative paths to unit
    embeddings) and fit the calibration on their cosines, fold by fold."""
    keep = unseen_pairs(pairs, trained_people)
    left = [pairs.left[i] for i in keep]
    right = [pairs.right[i] for i in keep]
    paths = sorted(set(left) | set(right))
    row = {p: i for i, p in enumerate(paths)}
    embeddings = embed_paths(paths)
    cosines = np.sum(embeddings[[row[p] for p in left]] * embeddings[[row[p] for p in right]], axis=1)
    source = f"LFW View 2 (pairs.txt): {len(keep)} of {len(pairs)} pairs, those of people the model never trained on"
    return fit_calibration(cosines, pairs.same[keep], pairs.fold[keep], source)


def fit_search_threshold(top_cosines: np.ndarray, correct: np.ndarray, folds: np.ndarray) -> dict[str, Any]:
    """The same-person threshold for a search of the whole gallery.

    Each query is a gallery image of a person the model never trained on, searched against the rest of the
    gallery: ``top_cosines`` is its best match's cosine, ``correct`` whether that match shows the same person
    (never, for a person with one image: a stranger to the gallery, like most users). The threshold is the cosine
    with the best accuracy of "flag the top match as the same person"; fitted on all folds but one in turn, it
    gives the held-out figures: the accuracy, the precision of the flag, how often a right top match is flagged,
    and how often a stranger's top match is (falsely) flagged.
    """
    top_cosines, correct, folds = np.asarray(top_cosines, float), np.asarray(correct, bool), np.asarray(folds)
    if len(top_cosines) < MIN_PAIRS or correct.all() or not correct.any():
        raise ValueError(f"the search threshold needs at least {MIN_PAIRS} queries with right and wrong top matches")
    flagged = np.zeros_like(correct)
    for fold in np.unique(folds):
        test = folds == fold
        flagged[test] = top_cosines[test] >= _fit_threshold(top_cosines[~test], correct[~test])
    return {
        "threshold": _fit_threshold(top_cosines, correct),
        "queries": int(len(correct)),
        "right_top_match": float(correct.mean()),
        "heldout_accuracy": float(np.mean(flagged == correct)),
        "heldout_precision": float(correct[flagged].mean()) if flagged.any() else 0.0,
        "heldout_recall": float(flagged[correct].mean()),
        "heldout_false_flags": float(flagged[~correct].mean()),
        "folds": int(len(np.unique(folds))),
    }
