"""BalancedPairSampler: half positive / half negative pairs, correct labels, reproducible per epoch."""

from __future__ import annotations

import numpy as np
import pytest

from model.samplers import BalancedPairSampler

# Class 0: 5 images, class 1: 3, class 2: 1 (a singleton), class 3: 2, class 4: 1 (a singleton); shuffled.
LABELS = np.random.default_rng(0).permutation(np.array([0] * 5 + [1] * 3 + [2] + [3] * 2 + [4]))


def test_half_positive_half_negative() -> None:
    for n in (200, 201):
        pairs, same = BalancedPairSampler(LABELS, n, seed=0).pairs(0)
        assert pairs.shape == (n, 2) and same.shape == (n,) and same.dtype == bool
        assert int(same.sum()) == n // 2
        assert int((~same).sum()) == n - n // 2
    assert len(BalancedPairSampler(LABELS, 200)) == 200


def test_positive_and_negative_labels() -> None:
    pairs, same = BalancedPairSampler(LABELS, 1000, seed=1).pairs(3)
    assert pairs.min() >= 0 and pairs.max() < len(LABELS)
    left, right = LABELS[pairs[:, 0]], LABELS[pairs[:, 1]]
    assert (left[same] == right[same]).all()
    assert (pairs[same, 0] != pairs[same, 1]).all()  # two different images, never one image twice
    assert (left[~same] != right[~same]).all()


def test_singletons_are_never_in_positive_pairs() -> None:
    singletons = np.flatnonzero(np.isin(LABELS, [2, 4]))
    pairs, same = BalancedPairSampler(LABELS, 2000, seed=0).pairs(0)
    assert not np.isin(pairs[same], singletons).any()
    # ... but they do appear in negative pairs.
    assert np.isin(pairs[~same], singletons).any()


def test_positives_cover_every_other_member_of_the_class() -> None:
    # Partners are drawn over all other images of the class, the last one included.
    labels = np.array([0, 0, 0, 1, 1])
    pairs, same = BalancedPairSampler(labels, 2000, seed=0).pairs(0)
    positives = {tuple(p) for p in pairs[same].tolist()}
    assert positives == {(a, b) for a in range(3) for b in range(3) if a != b} | {(3, 4), (4, 3)}


def test_anchors_are_drawn_over_images() -> None:
    # Anchors are uniform over images of classes with a partner: class 0 (8 images) anchors ~8x as often as 1 (1 pair).
    labels = np.array([0] * 8 + [1] * 2 + [2])
    pairs, same = BalancedPairSampler(labels, 20000, seed=0).pairs(0)
    share = (labels[pairs[same, 0]] == 0).mean()
    assert abs(share - 0.8) < 0.03


def test_same_epoch_reproducible_other_epochs_and_seeds_differ() -> None:
    sampler = BalancedPairSampler(LABELS, 100, seed=5)
    a, sa = sampler.pairs(2)
    b, sb = BalancedPairSampler(LABELS, 100, seed=5).pairs(2)
    assert np.array_equal(a, b) and np.array_equal(sa, sb)
    c, _ = sampler.pairs(3)
    d, _ = BalancedPairSampler(LABELS, 100, seed=6).pairs(2)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a, d)


def test_positives_and_negatives_are_interleaved() -> None:
    _, same = BalancedPairSampler(LABELS, 200, seed=0).pairs(0)
    assert same[:100].any() and not same[:100].all()  # shuffled, not all positives first


@pytest.mark.parametrize(
    "labels",
    [np.zeros(10, dtype=int), np.array([3, 3, 3]), np.arange(6)],  # one class; one class; no class with 2 images
)
def test_needs_two_classes_and_a_positive(labels: np.ndarray) -> None:
    with pytest.raises(ValueError):
        BalancedPairSampler(labels, 10)
