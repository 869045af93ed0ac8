"""Whole batches for every rank of a distributed run: the distributed PK sampler.

Splitting one P x K batch between the ranks would leave each with fewer classes or fewer images per class, and
the miner with fewer positives and negatives. Instead every rank draws a whole batch of its own from one shared
stream: the wrapped sampler (a ``PKSampler`` or a ``BalancedPairSampler``, built for ``world_size`` times as many
batches) deals its batches out in turn, batch ``s * world_size + r`` to rank ``r`` at step ``s``. Every rank
holds P classes x K images at every step, the ranks together hold ``world_size`` such batches (the global batch,
which the miner sees when the embeddings are gathered), and all ranks agree on the stream because they share
the seed.
"""

from __future__ import annotations

import numpy as np


class DistributedBatchSampler:
    """``batches(epoch)`` -> this rank's batches of ``sampler.batches(epoch)``; every rank gets the same number."""

    def __init__(self, sampler, rank: int, world_size: int) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in 0 .. {world_size - 1}")
        self.sampler = sampler
        self.rank = int(rank)
        self.world_size = int(world_size)

    def __len__(self) -> int:
        return len(self.sampler.batches(0)) // self.world_size

    def batches(self, epoch: int) -> list[np.ndarray]:
        every = self.sampler.batches(epoch)
        steps = len(every) // self.world_size
        return every[self.rank : steps * self.world_size : self.world_size]

    def global_batches(self, epoch: int) -> list[np.ndarray]:
        """Each step's batches of all ranks concatenated in rank order: what a single process would train on to
        match the distributed run, and the row order of ``ProcessGroup.gather``."""
        every = self.sampler.batches(epoch)
        steps = len(every) // self.world_size
        return [np.concatenate(every[s * self.world_size : (s + 1) * self.world_size]) for s in range(steps)]
