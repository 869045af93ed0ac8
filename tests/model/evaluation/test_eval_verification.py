from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from model.evaluation import best_threshold, kfold_verification, roc_curve_points, transfer_verification

# Two folds of two same pairs then two different pairs, as pairs.txt orders them.
DISTANCES = np.array([0.1, 0.5, 0.3, 0.9, 0.2, 0.4, 0.6, 0.15])
SAME = np.array([1, 1, 0, 0, 1, 1, 0, 0])
FOLDS = np.array([0, 0, 0, 0, 1, 1, 1, 1])


def test_best_threshold_by_hand() -> None:
    # distinct distances 0.1 0.35 0.4 0.8 -> candidates -0.9, 0.225, 0.375, 0.6, 1.8 with accuracies
    # 2/4 (all different), 3/4 (0.1 same), 2/4, 3/4 (only 0.8 different), 2/4 (all same): the first best is 0.225
    threshold, acc = best_threshold([0.1, 0.4, 0.35, 0.8], [True, True, False, False])
    assert threshold == pytest.approx(0.225) and acc == pytest.approx(0.75)


def test_best_threshold_beats_every_threshold_of_a_fine_grid() -> None:
    rng = np.random.default_rng(0)
    same = rng.random(300) < 0.5
    distances = np.round(rng.normal(loc=np.where(same, 1.0, 1.6), scale=0.4), 2)  # rounding makes ties
    threshold, acc = best_threshold(distances, same)
    assert acc == pytest.approx(np.mean((distances <= threshold) == same))
    grid = np.linspace(distances.min() - 1, distances.max() + 1, 5001)
    assert acc == pytest.approx(max(np.mean((distances <= t) == same) for t in grid))


def test_kfold_by_hand() -> None:
    # test fold 0, fitted on fold 1 (0.2 S, 0.4 S, 0.6 D, 0.15 D): candidates -0.85, 0.175, 0.3, 0.5, 1.6 score
    #   2/4, 1/4, 2/4, 3/4, 2/4 -> 0.5; on fold 0 (0.1 S, 0.5 S, 0.3 D, 0.9 D) 0.3 is wrongly "same" -> 3/4
    # test fold 1, fitted on fold 0: candidates -0.9, 0.2, 0.4, 0.7, 1.9 score 2/4, 3/4, 2/4, 3/4, 2/4 -> 0.2;
    #   on fold 1: 0.2 right, 0.4 wrongly "different", 0.6 right, 0.15 wrongly "same" -> 2/4
    # acc = (3/4 + 2/4) / 2 = 0.625, std = 0.125
    # AUC: P(same distance < different distance) over the 4 x 4 pairs: 0.1 < 4, 0.5 < 2, 0.2 < 3, 0.4 < 2 -> 11/16
    got = kfold_verification(DISTANCES, SAME, FOLDS)
    assert got["acc"] == pytest.approx(0.625)
    assert got["std"] == pytest.approx(0.125)
    assert got["auc"] == pytest.approx(11 / 16)
    assert got["thresholds"] == pytest.approx([0.5, 0.2])  # applied to fold 0, then fold 1


def test_kfold_on_ten_folds_matches_a_direct_computation() -> None:
    rng = np.random.default_rng(1)
    folds = np.repeat(np.arange(10), 60)
    same = np.tile(np.repeat([True, False], 30), 10)
    distances = rng.normal(loc=np.where(same, 1.0, 1.5), scale=0.3)
    got = kfold_verification(distances, same, folds)
    accs = []
    for f in range(10):
        t, _ = best_threshold(distances[folds != f], same[folds != f])
        accs.append(np.mean((distances[folds == f] <= t) == same[folds == f]))
    assert got["acc"] == pytest.approx(np.mean(accs)) and got["std"] == pytest.approx(np.std(accs))
    assert got["auc"] == pytest.approx(roc_auc_score(same, -distances))
    assert len(got["thresholds"]) == 10 and 0.6 < got["acc"] < 0.95


def test_kfold_needs_two_folds() -> None:
    with pytest.raises(ValueError):
        kfold_verification(DISTANCES, SAME, np.zeros(8))


def test_transfer_by_hand() -> None:
    # threshold fitted on fold 1 is 0.5 (see test_kfold_by_hand); on fold 0 that gives 3/4;
    # test AUC: same {0.1, 0.5} against different {0.3, 0.9}: 0.1 < both, 0.5 < 0.9 -> 3/4
    got = transfer_verification(DISTANCES[4:], SAME[4:], DISTANCES[:4], SAME[:4])
    assert got == pytest.approx({"acc": 0.75, "auc": 0.75, "threshold": 0.5})


def test_auc_counts_ties_as_half_like_sklearn() -> None:
    rng = np.random.default_rng(2)
    same = rng.random(200) < 0.4
    distances = np.round(rng.random(200) + 0.3 * ~same, 1)
    d_same, d_diff = distances[same], distances[~same]
    mann_whitney = (np.mean(d_same[:, None] < d_diff[None, :]) + 0.5 * np.mean(d_same[:, None] == d_diff[None, :]))
    got = transfer_verification(distances, same, distances, same)["auc"]
    assert got == pytest.approx(mann_whitney)


def test_roc_curve_points() -> None:
    fpr, tpr = roc_curve_points(DISTANCES, SAME)
    expected_fpr, expected_tpr, _ = roc_curve(SAME, -DISTANCES)
    assert isinstance(fpr, list) and isinstance(tpr, list)
    assert fpr == pytest.approx(expected_fpr.tolist()) and tpr == pytest.approx(expected_tpr.tolist())
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
