"""Batch hard: for every anchor, its hardest positive and its hardest negative in the batch (Hermans, Beyer,
Leibe, "In Defense of the Triplet Loss for Person Re-Identification", arXiv:1703.07737, 2017).

The hardest positive is the farthest image of the anchor's class (the anchor itself excluded); the hardest
negative is the closest image of any other class. Each anchor with at least one positive and one negative gives
one triplet; the others give none. Squaring the distances would not change the choice.
"""

from __future__ import annotations

import torch


class BatchHardMiner:
    """``miner(embeddings, labels) -> (a, p, n)``: one triplet per anchor, farthest positive, closest negative."""

    @torch.no_grad()
    def __call__(
        self, embeddings: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        distance = torch.cdist(embeddings.detach(), embeddings.detach())
        same = labels[:, None] == labels[None, :]
        positive = same & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
        negative = ~same
        anchors = torch.nonzero(positive.any(1) & negative.any(1)).flatten()
        p = distance.masked_fill(~positive, float("-inf")).argmax(1)
        n = distance.masked_fill(~negative, float("inf")).argmin(1)
        return anchors, p[anchors], n[anchors]
