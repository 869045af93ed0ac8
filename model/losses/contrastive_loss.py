"""Contrastive loss: Hadsell, Chopra, LeCun, "Dimensionality Reduction by Learning an Invariant Mapping",
CVPR 2006.

For a pair at distance ``d`` with ``same`` = 1 when both images show one class:

    L = same * max(0, d - pos_margin)^p + (1 - same) * max(0, margin - d)^p

``p = 2`` and ``pos_margin = 0`` is the paper's loss (without its constant 1/2): similar pairs are pulled
together, dissimilar pairs pushed apart until they are ``margin`` away, and no further. ``p = 1`` is the hinge
form that pytorch-metric-learning's ``ContrastiveLoss`` computes.

Drawn pairs (``forward``) are averaged together: the pair sampler already balances them. Over every pair of a
batch (``all_pairs``) the positive and the negative terms are averaged separately and then added, so that the
many negatives of a batch do not drown its few positives. ``reducer="mean"`` averages over all the pairs;
``reducer="nonzero"`` over the pairs whose term is not zero (pytorch-metric-learning's ``AvgNonZeroReducer``, its default for this
loss). The non-zero average is a pair miner in effect: the pairs still inside a margin carry the whole gradient,
however few they become, where the plain mean lets it fade as more pairs are satisfied (Musgrave, Belongie and
Lim, "A Metric Learning Reality Check", ECCV 2020).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

REDUCERS = ("mean", "nonzero")


class ContrastiveLoss(nn.Module):
    """Contrastive loss over explicit pairs of embeddings, or over every pair of a batch (``all_pairs``)."""

    def __init__(self, margin: float = 1.0, pos_margin: float = 0.0, power: float = 2.0, reducer: str = "mean") -> None:
        super().__init__()
        if margin <= pos_margin:
            raise ValueError("margin must exceed pos_margin")
        if reducer not in REDUCERS:
            raise ValueError(f"reducer {reducer!r} is not one of {', '.join(REDUCERS)}")
        self.margin = margin
        self.pos_margin = pos_margin
        self.power = power
        self.reducer = reducer
        self.last_active_fraction = 0.0
        """Fraction of the pairs of the last call with a non-zero loss (a training diagnostic)."""

    def forward(self, left: torch.Tensor, right: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
        """``left`` and ``right``: (N, D) embeddings of the two sides of N pairs; ``same``: (N,) bool or 0/1."""
        distance, same = pair_distance(left, right), same.bool()
        terms = self._terms(distance, same)
        return self._reduce(terms, distance)

    def all_pairs(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The loss over every pair of rows of ``embeddings`` (N, D): N(N-1)/2 pairs, nearly all negative."""
        i, j = torch.triu_indices(len(labels), len(labels), offset=1, device=embeddings.device)
        distance, same = pair_distance(embeddings[i], embeddings[j]), labels[i] == labels[j]
        terms = self._terms(distance, same)
        return self._reduce(terms[same], distance) + self._reduce(terms[~same], distance)

    def _terms(self, distance: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
        """Each pair's term of the loss, and the share of them that is not zero as ``last_active_fraction``."""
        terms = torch.where(same, F.relu(distance - self.pos_margin), F.relu(self.margin - distance)).pow(self.power)
        self.last_active_fraction = float((terms.detach() > 0).float().mean()) if len(terms) else 0.0
        return terms

    def _reduce(self, terms: torch.Tensor, distance: torch.Tensor) -> torch.Tensor:
        if self.reducer == "nonzero":
            terms = terms[terms.detach() > 0]
        return terms.mean() if len(terms) else distance.sum() * 0  # zero, still attached to the graph


def pair_distance(left: torch.Tensor, right: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Euclidean distance between matching rows, with a gradient that stays finite at zero distance."""
    return (left - right).pow(2).sum(dim=1).clamp_min(eps).sqrt()
