"""Samplers: which images a batch holds (balanced pairs for the siamese network)."""

from model.samplers.balanced_pair_sampler import BalancedPairSampler

__all__ = ["BalancedPairSampler"]
