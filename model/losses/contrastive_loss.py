"""Contrastive loss: Hadsell, Chopra, LeCun, "Dimensionality Reduction by Learning an Invariant Mapping",
CVPR 2006.

For a pair at distance ``d`` with ``same`` = 1 when both images show one class:

    L = same * max(0, d - pos_margin)^p + (1 - same) * max(0, margin - d)^p

averaged over the pairs. ``p = 2`` and ``pos_margin = 0`` is the paper's loss (without its constant 1/2):
similar pairs are pulled together, dissimilar pairs pushed apart until they are ``margin`` away, and no further.
``p = 1`` is the hinge form that pytorch-metric-learning's ``ContrastiveLoss`` computes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ContrastiveLoss(nn.Module):
    """Contrastive loss over explicit pairs of embeddings."""

    def __init__(self, margin: float = 1.0, pos_margin: float = 0.0, power: float = 2.0) -> None:
        super().__init__()
        if margin <= pos_margin:
            raise ValueError("margin must exceed pos_margin")
        self.margin = margin
        self.pos_margin = pos_margin
        self.power = power
        self.last_active_fraction = 0.0
        """Fraction of the pairs of the last call with a non-zero loss (a training diagnostic)."""

    def forward(self, left: torch.Tensor, right: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
        """``left`` and ``right``: (N, D) embeddings of the two sides of N pairs; ``same``: (N,) bool or 0/1."""
        distance = pair_distance(left, right)
        same = same.to(distance.dtype)
        positive = F.relu(distance - self.pos_margin).pow(self.power)
        negative = F.relu(self.margin - distance).pow(self.power)
        loss = same * positive + (1 - same) * negative
        self.last_active_fraction = float((loss.detach() > 0).float().mean()) if len(loss) else 0.0
        return loss.mean()

    def all_pairs(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The loss over every pair of rows of ``embeddings`` (N, D), positives and negatives weighted equally.

        A batch of N images holds N(N-1)/2 pairs, nearly all negative; averaging the positive and the negative
        terms separately, then adding them, keeps the balance that the pair sampler gives drawn pairs.
        """
        i, j = torch.triu_indices(len(labels), len(labels), offset=1, device=embeddings.device)
        distance = pair_distance(embeddings[i], embeddings[j])
        same = labels[i] == labels[j]
        positive = F.relu(distance[same] - self.pos_margin).pow(self.power)
        negative = F.relu(self.margin - distance[~same]).pow(self.power)
        active = torch.cat([positive, negative]).detach() > 0
        self.last_active_fraction = float(active.float().mean()) if len(active) else 0.0
        zero = distance.sum() * 0
        return (positive.mean() if len(positive) else zero) + (negative.mean() if len(negative) else zero)


def pair_distance(left: torch.Tensor, right: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Euclidean distance between matching rows, with a gradient that stays finite at zero distance."""
    return (left - right).pow(2).sum(dim=1).clamp_min(eps).sqrt()
