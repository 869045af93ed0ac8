from __future__ import annotations

import numpy as np
import pytest
import torch
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator

from model.evaluation import retrieval_metrics

# Points on a line, chosen so that no two pairwise distances are equal.
LINE = np.array([[0.0], [1.0], [3.0], [7.0], [12.0]])


def test_by_hand_with_a_lone_point_skipped() -> None:
    labels = ["A", "A", "B", "A", "A"]
    # B (at 3) is alone: R = 0, skipped. Each A has R = 3; its other points by distance, top R marked:
    #   0: 1 A, 3 B, 7 A | 12 A    P@1 = 1, RP = 2/3, AP = (1/1 + 0 + 2/3) / 3 = 5/9
    #   1: 0 A, 3 B, 7 A | 12 A    P@1 = 1, RP = 2/3, AP = 5/9
    #   7: 3 B, 12 A, 1 A | 0 A    P@1 = 0, RP = 2/3, AP = (0 + 1/2 + 2/3) / 3 = 7/18
    #  12: 7 A, 3 B, 1 A | 0 A     P@1 = 1, RP = 2/3, AP = 5/9
    # means over the 4 queries: P@1 = 3/4, RP = 2/3, MAP@R = (3 * 5/9 + 7/18) / 4 = 37/72
    got = retrieval_metrics(LINE, labels)
    assert got == pytest.approx({"p_at_1": 3 / 4, "r_precision": 2 / 3, "map_at_r": 37 / 72})


def test_by_hand_with_two_classes() -> None:
    labels = [0, 0, 1, 0, 1]
    # class 0 has R = 2, class 1 has R = 1:
    #   0: 1 (0), 3 (1)     P@1 = 1, RP = 1/2, AP = (1/1 + 0) / 2 = 1/2
    #   1: 0 (0), 3 (1)     P@1 = 1, RP = 1/2, AP = 1/2
    #   3: 1 (0)            P@1 = 0, RP = 0, AP = 0
    #   7: 3 (1), 12 (1)    P@1 = 0, RP = 0, AP = 0
    #  12: 7 (0)            P@1 = 0, RP = 0, AP = 0
    # means over 5 queries: P@1 = 2/5, RP = 1/5, MAP@R = 1/5
    got = retrieval_metrics(LINE, labels)
    assert got == pytest.approx({"p_at_1": 2 / 5, "r_precision": 1 / 5, "map_at_r": 1 / 5})


def clustered(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Classes of 1 to 24 points around random centres, overlapping enough that no metric is 0 or 1."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 25, size=30)
    labels = np.repeat(np.arange(30), sizes)
    x = rng.normal(size=(len(labels), 16)) + 1.5 * rng.normal(size=(30, 16))[labels]
    return x.astype(np.float32), labels


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_pytorch_metric_learning(seed: int) -> None:
    x, labels = clustered(seed)
    calculator = AccuracyCalculator(
        include=("precision_at_1", "r_precision", "mean_average_precision_at_r"), device=torch.device("cpu")
    )
    x_t, labels_t = torch.from_numpy(x), torch.from_numpy(labels)
    expected = calculator.get_accuracy(x_t, labels_t, x_t, labels_t, ref_includes_query=True)
    assert 0.2 < expected["mean_average_precision_at_r"] < 0.9
    for chunk_size in (7, 1024):
        got = retrieval_metrics(x, labels, chunk_size=chunk_size)
        assert got["p_at_1"] == pytest.approx(expected["precision_at_1"], abs=1e-6)
        assert got["r_precision"] == pytest.approx(expected["r_precision"], abs=1e-6)
        assert got["map_at_r"] == pytest.approx(expected["mean_average_precision_at_r"], abs=1e-6)


def test_perfect_clusters_score_one() -> None:
    labels = np.repeat(np.arange(4), 5)
    x = 100.0 * labels[:, None] + np.random.default_rng(0).normal(size=(20, 3))
    assert retrieval_metrics(x, labels) == {"p_at_1": 1.0, "r_precision": 1.0, "map_at_r": 1.0}


def test_rejects_labels_without_a_match_or_of_the_wrong_length() -> None:
    with pytest.raises(ValueError):
        retrieval_metrics(LINE, [0, 1, 2, 3, 4])
    with pytest.raises(ValueError):
        retrieval_metrics(LINE, [0, 0, 1])
