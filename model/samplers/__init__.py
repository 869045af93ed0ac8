"""Samplers: which images a batch holds (balanced pairs for the siamese network, P x K batches for triplets)."""

from model.samplers.balanced_pair_sampler import BalancedPairSampler
from model.samplers.pk_sampler import PKSampler

__all__ = ["BalancedPairSampler", "PKSampler"]
