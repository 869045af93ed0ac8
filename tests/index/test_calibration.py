from __future__ import annotations

import numpy as np
import pytest

from index.calibration import Calibration, expected_calibration_error, fit_calibration, fit_search_threshold
from model.data.lfw import Pairs, unseen_pairs


def test_expected_calibration_error_by_hand() -> None:
    # Bin [0.1, 0.2): predictions 0.1, 0.1, outcomes 0, 1 -> |0.1 - 0.5| = 0.4, weight 1/2.
    # Bin [0.9, 1.0]: predictions 0.9, 0.9, outcomes 1, 1 -> |0.9 - 1.0| = 0.1, weight 1/2.
    ece = expected_calibration_error(np.array([0.1, 0.1, 0.9, 0.9]), np.array([0.0, 1.0, 1.0, 1.0]))
    assert ece == pytest.approx(0.5 * 0.4 + 0.5 * 0.1)


def test_unseen_pairs_drop_every_pair_touching_a_trained_person() -> None:
    pairs = Pairs(
        left=["A/A_0001.jpg", "B/B_0001.jpg", "C/C_0001.jpg"],
        right=["A/A_0002.jpg", "C/C_0002.jpg", "D/D_0001.jpg"],
        same=np.array([True, False, False]), fold=np.array([0, 0, 0]),
    )
    assert unseen_pairs(pairs, {"B"}).tolist() == [0, 2]
    assert unseen_pairs(pairs, {"A", "D"}).tolist() == [1]


def _synthetic(n: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    same = np.arange(n) % 2 == 0
    cosines = np.where(same, rng.normal(0.6, 0.15, n), rng.normal(0.1, 0.15, n))
    return cosines, same, np.arange(n) % 10


def test_fit_recovers_a_sensible_curve_and_threshold() -> None:
    cosines, same, folds = _synthetic()
    calibration = fit_calibration(cosines, same, folds, source="synthetic")
    # Two equal-variance Gaussians with equal priors: the Bayes threshold is the midpoint, 0.35, where P = 1/2.
    assert calibration.threshold == pytest.approx(0.35, abs=0.05)
    assert calibration.similarity(0.35) == pytest.approx(50.0, abs=6.0)
    assert calibration.similarity(0.9) > 95.0 and calibration.similarity(-0.2) < 5.0
    assert np.all(np.diff(calibration.similarity(np.linspace(-1, 1, 50))) > 0)
    # Held-out accuracy of the threshold: Phi(0.25 / 0.15) = 95.2% for this separation.
    assert calibration.heldout["accuracy"] == pytest.approx(0.952, abs=0.03)
    assert calibration.heldout["ece"] < 0.06 and calibration.heldout["folds"] == 10
    assert calibration.same_person(np.array([0.5, 0.2])).tolist() == [True, False]


def test_round_trip_through_a_dict() -> None:
    calibration = fit_calibration(*_synthetic(), source="synthetic")
    assert Calibration.from_dict(calibration.to_dict()) == calibration


def test_too_few_pairs_or_one_kind_only_is_refused() -> None:
    cosines, same, folds = _synthetic(100)
    with pytest.raises(ValueError, match="at least 200 pairs"):
        fit_calibration(cosines, same, folds, source="x")
    cosines, same, folds = _synthetic()
    with pytest.raises(ValueError, match="both kinds"):
        fit_calibration(cosines, np.ones_like(same), folds, source="x")


def test_the_search_threshold_separates_right_from_wrong_top_matches() -> None:
    # Right top matches at cosine 0.80 to 0.99, wrong ones (strangers) at 0.50 to 0.79: any threshold in between
    # flags exactly the right ones, on every held-out fold.
    rng = np.random.default_rng(0)
    correct = np.arange(400) % 4 == 0
    cosines = np.where(correct, rng.uniform(0.80, 0.99, 400), rng.uniform(0.50, 0.79, 400))
    search = fit_search_threshold(cosines, correct, np.arange(400) % 10)
    assert 0.79 <= search["threshold"] <= 0.80
    assert search["right_top_match"] == 0.25 and search["heldout_accuracy"] == pytest.approx(1.0, abs=0.01)
    assert search["heldout_false_flags"] <= 0.01 and search["heldout_precision"] >= 0.97


def test_the_search_threshold_replaces_the_pair_threshold_and_keeps_it() -> None:
    calibration = fit_calibration(*_synthetic(), source="synthetic")
    stricter = calibration.with_search_threshold({"threshold": 0.9, "queries": 500})
    assert stricter.threshold == 0.9 and stricter.pair_threshold == calibration.threshold
    assert stricter.same_person(np.array([0.85, 0.95])).tolist() == [False, True]
    assert Calibration.from_dict(stricter.to_dict()) == stricter
