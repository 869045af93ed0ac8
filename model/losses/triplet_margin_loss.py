"""Triplet margin loss: Schroff, Kalenichenko, Philbin, "FaceNet: A Unified Embedding for Face Recognition and
Clustering", CVPR 2015; soft margin from Hermans, Beyer, Leibe, "In Defense of the Triplet Loss for Person
Re-Identification", arXiv:1703.07737, 2017.

For a triplet (anchor a, positive p of the anchor's class, negative n of another class):

    L = max(0, d(a, p) - d(a, n) + margin)        (hinge, the default)
    L = log(1 + exp(d(a, p) - d(a, n)))           (soft_margin=True; no margin: softplus never reaches zero)

averaged over all the triplets given, zero-loss ones included. ``d`` is the Euclidean distance, or its square with
``squared=True`` (FaceNet's choice; a margin on squared distances of unit vectors lies in [0, 4], not [0, 2]).

The triplets come from a miner (``model.miners``), which decides which triplets count: averaging over the
batch-all miner's active triplets (its default) is Hermans et al.'s "BA≠0" loss; batch-hard gives their "BH".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class TripletMarginLoss(nn.Module):
    """Triplet loss over mined (anchor, positive, negative) index triplets of one batch of embeddings.

    After each call, ``last_active_fraction`` holds the fraction of triplets that violate the margin (their hinge
    loss is non-zero; with ``soft_margin``, the negative is no farther than the positive), and
    ``last_triplet_count`` how many triplets there were: training diagnostics. Both are 0 for no triplets.
    """

    def __init__(self, margin: float = 0.2, squared: bool = False, soft_margin: bool = False) -> None:
        super().__init__()
        if margin < 0:
            raise ValueError("margin must be non-negative")
        self.margin = float(margin)
        self.squared = squared
        self.soft_margin = soft_margin
        self.last_active_fraction = 0.0
        self.last_triplet_count = 0

    def forward(
        self,
        embeddings: torch.Tensor,
        labels: torch.Tensor,
        triplets: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    ) -> torch.Tensor:
        """``embeddings`` (N, D); ``labels`` (N,), kept for the shared loss signature (the miner used them);
        ``triplets``: (anchor, positive, negative) index tensors of one length T. Returns the mean loss."""
        anchor, positive, negative = triplets
        if not len(anchor) == len(positive) == len(negative):
            raise ValueError("anchor, positive and negative indices must have one length")
        self.last_triplet_count = len(anchor)
        if len(anchor) == 0:
            self.last_active_fraction = 0.0
            # Zero, yet connected to the embeddings: backward() works and gives zero gradients.
            return embeddings.sum() * 0
        a = embeddings[anchor]
        d_ap = self._distance(a, embeddings[positive])
        d_an = self._distance(a, embeddings[negative])
        if self.soft_margin:
            violation = d_ap - d_an
            losses = F.softplus(violation)
        else:
            violation = d_ap - d_an + self.margin
            losses = F.relu(violation)
        self.last_active_fraction = (violation > 0).float().mean().item()
        return losses.mean()

    def _distance(self, left: torch.Tensor, right: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
        """Distance between matching rows; the square root's gradient stays finite at zero distance."""
        squared = (left - right).pow(2).sum(dim=1)
        return squared if self.squared else squared.clamp_min(eps).sqrt()
