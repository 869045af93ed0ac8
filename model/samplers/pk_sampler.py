"""P x K batches for triplet mining: Hermans, Beyer, Leibe, "In Defense of the Triplet Loss for Person
Re-Identification", arXiv:1703.07737, 2017 (the idea behind torchvision's references/similarity PKSampler).

Every batch holds P distinct classes with K images each, so that every image has K - 1 positives and (P - 1) K
negatives in the batch, whatever the miner. Only classes with at least two images can give a positive, so only
they are drawn.

Classes are drawn in rounds: a random order of all the eligible classes is dealt out P at a time, and a new
round is shuffled when one runs out, so that over an epoch every class is drawn as often as any other (at most
one time apart). Where a new round would put a class twice into one batch, the repeat is held back to the next.

A class with at least K images gives K different ones, drawn at random; a class with fewer gives each of its
images once and fills the remaining places by drawing its images again, with replacement.
"""

from __future__ import annotations

import numpy as np


class PKSampler:
    """``batches(epoch)`` -> list of ``batches_per_epoch`` index arrays of P x K, reproducible from (seed, epoch).

    Within a batch the indices are grouped by class: K of the first class, then K of the second, and so on.
    """

    def __init__(self, labels: np.ndarray, p: int, k: int, batches_per_epoch: int, seed: int = 0) -> None:
        if p < 2 or k < 2:
            raise ValueError("a P x K batch needs P >= 2 classes (negatives) and K >= 2 images (positives)")
        self.labels = np.asarray(labels)
        self.p, self.k = int(p), int(k)
        self.batches_per_epoch = int(batches_per_epoch)
        self.seed = seed
        self.by_class = {c: np.flatnonzero(self.labels == c) for c in np.unique(self.labels)}
        self.eligible = np.array([c for c, idx in self.by_class.items() if len(idx) >= 2])
        if len(self.eligible) < self.p:
            raise ValueError(f"only {len(self.eligible)} classes have two images; P = {self.p} are needed")

    def __len__(self) -> int:
        return self.batches_per_epoch

    @property
    def batch_size(self) -> int:
        return self.p * self.k

    def batches(self, epoch: int) -> list[np.ndarray]:
        rng = np.random.default_rng([self.seed, epoch])
        pool: list = []  # the classes left in this round, drawn from the end
        out = []
        for _ in range(self.batches_per_epoch):
            chosen: list = []
            held_back: list = []
            while len(chosen) < self.p:
                if not pool:
                    pool = rng.permutation(self.eligible).tolist()
                c = pool.pop()
                (held_back if c in chosen else chosen).append(c)
            pool.extend(held_back)  # first in the next batch
            out.append(np.concatenate([self._images(c, rng) for c in chosen]).astype(np.int64))
        return out

    def _images(self, c, rng: np.random.Generator) -> np.ndarray:
        members = self.by_class[c]
        if len(members) >= self.k:
            return rng.choice(members, size=self.k, replace=False)
        extra = rng.choice(members, size=self.k - len(members), replace=True)
        return np.concatenate([rng.permutation(members), extra])
