"""Samplers: which images a batch holds (balanced pairs for the siamese network, P x K batches for triplets)."""

from model.samplers.balanced_pair_sampler import BalancedPairSampler
from model.samplers.distributed_batch_sampler import DistributedBatchSampler
from model.samplers.pk_sampler import PKSampler

__all__ = ["BalancedPairSampler", "DistributedBatchSampler", "PKSampler"]
