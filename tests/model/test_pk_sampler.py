"""PKSampler: P distinct classes x K images per batch, eligibility, small classes, balance and reproducibility."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from model.samplers import PKSampler

# Class sizes: 0 -> 5, 1 -> 3, 2 -> 1 (cannot give a positive: never drawn), 3 -> 2, 4 -> 4, 5 -> 6.
SIZES = {0: 5, 1: 3, 2: 1, 3: 2, 4: 4, 5: 6}
LABELS = np.random.default_rng(0).permutation(np.repeat(list(SIZES), list(SIZES.values())))
ELIGIBLE = {0, 1, 3, 4, 5}


def test_every_batch_is_p_classes_by_k_images() -> None:
    p, k = 3, 4
    sampler = PKSampler(LABELS, p=p, k=k, batches_per_epoch=20, seed=0)
    batches = sampler.batches(0)
    assert len(batches) == len(sampler) == 20 and sampler.batch_size == 12
    for batch in batches:
        assert batch.dtype == np.int64 and batch.shape == (p * k,)
        counts = Counter(LABELS[batch].tolist())
        assert len(counts) == p and set(counts.values()) == {k}  # exactly P distinct classes, K images each
        assert set(counts) <= ELIGIBLE
        for c in counts:
            members = batch[LABELS[batch] == c]
            if SIZES[c] >= k:
                assert len(set(members.tolist())) == k  # no image twice while the class has enough
            else:
                # A small class gives all its images, then repeats (class 3: 2 images -> both, 2 repeats).
                assert set(members.tolist()) == set(np.flatnonzero(LABELS == c).tolist())


def test_classes_are_balanced_over_an_epoch() -> None:
    # 20 batches x 3 = 60 class slots over 5 eligible classes: 12 each, dealt in rounds.
    batches = PKSampler(LABELS, p=3, k=2, batches_per_epoch=20, seed=1).batches(0)
    per_class = Counter(c for batch in batches for c in set(LABELS[batch].tolist()))
    assert set(per_class) == ELIGIBLE
    assert max(per_class.values()) - min(per_class.values()) <= 1
    assert sum(per_class.values()) == 60


def test_reproducible_per_epoch_and_different_across_epochs() -> None:
    a = PKSampler(LABELS, p=2, k=3, batches_per_epoch=6, seed=5)
    b = PKSampler(LABELS, p=2, k=3, batches_per_epoch=6, seed=5)
    assert all(np.array_equal(x, y) for x, y in zip(a.batches(3), b.batches(3)))
    assert all(np.array_equal(x, y) for x, y in zip(a.batches(3), a.batches(3)))
    assert not all(np.array_equal(x, y) for x, y in zip(a.batches(3), a.batches(4)))
    other_seed = PKSampler(LABELS, p=2, k=3, batches_per_epoch=6, seed=6)
    assert not all(np.array_equal(x, y) for x, y in zip(a.batches(3), other_seed.batches(3)))


def test_all_eligible_classes_in_one_batch() -> None:
    # P = number of eligible classes: every batch holds each of them once.
    for batch in PKSampler(LABELS, p=5, k=2, batches_per_epoch=4, seed=0).batches(0):
        assert set(Counter(LABELS[batch].tolist()).values()) == {2}
        assert set(LABELS[batch].tolist()) == ELIGIBLE


def test_invalid_settings() -> None:
    with pytest.raises(ValueError):
        PKSampler(LABELS, p=6, k=2, batches_per_epoch=1)  # only 5 classes have two images
    with pytest.raises(ValueError):
        PKSampler(LABELS, p=1, k=4, batches_per_epoch=1)
    with pytest.raises(ValueError):
        PKSampler(LABELS, p=2, k=1, batches_per_epoch=1)
