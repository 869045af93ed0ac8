from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score
from sklearn.neighbors import KNeighborsClassifier, NearestCentroid

from model.evaluation import accuracy, confusions, knn_predict, ncm_predict, per_class_accuracy


def clustered(seed: int, n: int = 400, classes: int = 6, dim: int = 8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, size=n)
    centres = 2.0 * rng.normal(size=(classes, dim))
    return rng.normal(size=(n, dim)) + centres[labels], labels


def test_ncm_by_hand() -> None:
    train = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 3.0]])
    labels = np.array(["a", "a", "b"])
    # means: a = (5, 0), b = (0, 3)
    # (0, 1): sqrt(25 + 1) to a, 2 to b -> b, although its nearest train point, (0, 0), is an a
    # (8, 0): 3 to a, sqrt(64 + 9) to b -> a
    np.testing.assert_array_equal(ncm_predict(train, labels, [[0.0, 1.0], [8.0, 0.0]]), ["b", "a"])


def test_ncm_matches_sklearn_nearest_centroid() -> None:
    x, y = clustered(0)
    expected = NearestCentroid().fit(x[:300], y[:300]).predict(x[300:])
    np.testing.assert_array_equal(ncm_predict(x[:300], y[:300], x[300:]), expected)


def test_knn_by_hand_majority() -> None:
    train = np.array([[1.0], [-1.5], [1.6], [10.0]])
    labels = np.array([0, 1, 1, 0])
    # from 0 the 3 nearest are 1 (label 0), -1.5 (label 1), 1.6 (label 1): label 1 wins two votes to one
    np.testing.assert_array_equal(knn_predict(train, labels, [[0.0]], 3), [1])
    # with k = 1 the nearest alone decides
    np.testing.assert_array_equal(knn_predict(train, labels, [[0.0]], 1), [0])


def test_knn_by_hand_tie_goes_to_the_smallest_summed_distance() -> None:
    train = np.array([[1.0], [10.0], [2.0], [3.0]])
    labels = np.array(["b", "b", "a", "a"])
    # from 0: b at 1 and 10 (sum 11), a at 2 and 3 (sum 5); two votes each -> a, though b is the nearest
    np.testing.assert_array_equal(knn_predict(train, labels, [[0.0]], 4), ["a"])


def test_knn_by_hand_tie_in_votes_and_sums_goes_to_the_nearest() -> None:
    train = np.array([[-1.5], [1.0], [1.5], [2.0]])
    labels = np.array([3, 7, 3, 7])
    # from 0: label 7 at 1 and 2 (sum 3), label 3 at 1.5 and 1.5 (sum 3) -> the nearest neighbour's label, 7
    np.testing.assert_array_equal(knn_predict(train, labels, [[0.0]], 4), [7])


@pytest.mark.parametrize("k", [1, 5, 301])  # k = 301 votes in blocks of 11 test points
def test_knn_matches_sklearn(k: int) -> None:
    x, y = clustered(1, n=500, classes=2 if k > 1 else 6)  # two classes and odd k: sklearn's tie rule never applies
    expected = KNeighborsClassifier(n_neighbors=k).fit(x[:400], y[:400]).predict(x[400:])
    np.testing.assert_array_equal(knn_predict(x[:400], y[:400], x[400:], k), expected)


def test_accuracy_by_hand() -> None:
    assert accuracy([1, 2, 3, 4], [1, 2, 0, 4]) == pytest.approx(0.75)


def test_per_class_accuracy_by_hand() -> None:
    # class 0: 2 of 3 right, class 1: 1 of 1 right -> (2/3 + 1) / 2 = 5/6, while plain accuracy is 3/4;
    # class 2 is only predicted, never true, so it does not count
    y_true, y_pred = [0, 0, 0, 1], [0, 0, 2, 1]
    assert per_class_accuracy(y_true, y_pred) == pytest.approx(5 / 6)
    assert accuracy(y_true, y_pred) == pytest.approx(3 / 4)


def test_per_class_accuracy_matches_sklearn_balanced_accuracy() -> None:
    rng = np.random.default_rng(2)
    y_true = rng.integers(0, 7, size=500)
    y_pred = np.where(rng.random(500) < 0.6, y_true, rng.integers(0, 7, size=500))
    assert per_class_accuracy(y_true, y_pred) == pytest.approx(balanced_accuracy_score(y_true, y_pred))


def test_confusions_by_hand() -> None:
    y_true = ["a", "a", "a", "b", "b", "c", "c"]
    y_pred = ["b", "b", "a", "a", "c", "a", "c"]
    # errors: a->b twice, then b->a, b->c, c->a once each (in order of first occurrence)
    assert confusions(y_true, y_pred) == [("a", "b", 2), ("b", "a", 1), ("b", "c", 1), ("c", "a", 1)]
    assert confusions(y_true, y_pred, top=2) == [("a", "b", 2), ("b", "a", 1)]
    assert confusions(y_true, y_true) == []


def test_confusions_give_plain_python_values() -> None:
    (true, pred, count), = confusions(np.array([1, 2]), np.array([1, 3]))
    assert (true, pred, count) == (2, 3, 1) and type(true) is int and type(count) is int


def test_metrics_reject_mismatched_lengths() -> None:
    with pytest.raises(ValueError):
        accuracy([1, 2], [1])
    with pytest.raises(ValueError):
        per_class_accuracy([], [])
