"""Balanced pairs for a siamese network, drawn afresh each epoch (Hadsell et al., 2006; Bromley et al., 1993).

Half the pairs are positive (two different images of one class), half negative (two classes). The first image
of every pair is drawn uniformly over images, so large classes appear as often as they are common, but never
crowd out the negatives; the partner is drawn uniformly within the class, or uniformly over the other images.
"""

from __future__ import annotations

import numpy as np


class BalancedPairSampler:
    """``pairs(epoch)`` -> (index pairs (N, 2), same (N,) bool), reproducible from ``seed`` and ``epoch``."""

    def __init__(self, labels: np.ndarray, pairs_per_epoch: int, seed: int = 0, batch_size: int = 64) -> None:
        self.labels = np.asarray(labels)
        self.pairs_per_epoch = int(pairs_per_epoch)
        self.batch_size = int(batch_size)
        self.seed = seed
        self.by_class = {c: np.flatnonzero(self.labels == c) for c in np.unique(self.labels)}
        self.anchors_with_positive = np.concatenate([idx for idx in self.by_class.values() if len(idx) > 1])
        if len(self.by_class) < 2 or len(self.anchors_with_positive) == 0:
            raise ValueError("balanced pairs need two classes and one class with two images")

    def __len__(self) -> int:
        return self.pairs_per_epoch

    def batches(self, epoch: int) -> list[np.ndarray]:
        """This epoch's pairs, ``batch_size`` at a time, each batch as image indices: all left images, then all
        right ones, so that rows ``i`` and ``i + n`` of a batch of 2n images are a pair."""
        pairs, _ = self.pairs(epoch)
        return [
            np.concatenate([pairs[lo : lo + self.batch_size, 0], pairs[lo : lo + self.batch_size, 1]])
            for lo in range(0, len(pairs), self.batch_size)
        ]

    def pairs(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, epoch])
        n_pos = self.pairs_per_epoch // 2
        n_neg = self.pairs_per_epoch - n_pos

        anchors = rng.choice(self.anchors_with_positive, size=n_pos)
        positives = np.empty(n_pos, dtype=np.int64)
        for i, a in enumerate(anchors):
            members = self.by_class[self.labels[a]]
            j = rng.integers(len(members) - 1)
            positives[i] = members[j] if members[j] != a else members[-1]

        left = rng.integers(len(self.labels), size=n_neg)
        right = rng.integers(len(self.labels), size=n_neg)
        clash = self.labels[left] == self.labels[right]
        while clash.any():
            right[clash] = rng.integers(len(self.labels), size=int(clash.sum()))
            clash = self.labels[left] == self.labels[right]

        pairs = np.concatenate([np.stack([anchors, positives], 1), np.stack([left, right], 1)])
        same = np.concatenate([np.ones(n_pos, bool), np.zeros(n_neg, bool)])
        order = rng.permutation(len(same))
        return pairs[order], same[order]
