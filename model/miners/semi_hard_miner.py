"""Semi-hard negatives: Schroff, Kalenichenko, Philbin, "FaceNet: A Unified Embedding for Face Recognition and
Clustering", CVPR 2015, section 3.2.

FaceNet uses every anchor-positive pair of the batch and, for each, a negative that is farther from the anchor
than the positive but still inside the margin:

    d(a, p) < d(a, n) < d(a, p) + margin

so that the triplet has a non-zero loss without being among the hardest ones, which the paper found to collapse
the model early in training. Of the negatives in that band this miner picks the hardest, the closest to the
anchor: one triplet per anchor-positive pair.

Fallback: a pair with no negative in the band gives no triplet (FaceNet's definition, and what
pytorch-metric-learning's semihard ``TripletMarginMiner`` returns). The alternative, TensorFlow's
``triplet_semihard_loss``, takes the closest negative beyond the positive even outside the margin (zero loss), or
the farthest negative when all are closer: the first only dilutes the mean loss, the second brings back the hard
negatives that semi-hard mining avoids. Use the loss's margin and ``squared`` here.
"""

from __future__ import annotations

import torch


class SemiHardMiner:
    """``miner(embeddings, labels) -> (a, p, n)``: for each anchor-positive pair, its closest semi-hard negative."""

    def __init__(self, margin: float = 0.2, squared: bool = False) -> None:
        if margin <= 0:
            raise ValueError("margin must be positive: the semi-hard band is empty otherwise")
        self.margin = float(margin)
        self.squared = squared

    @torch.no_grad()
    def __call__(
        self, embeddings: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        distance = torch.cdist(embeddings.detach(), embeddings.detach())
        if self.squared:
            distance = distance.pow(2)
        same = labels[:, None] == labels[None, :]
        positive = same & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
        a, p = torch.nonzero(positive, as_tuple=True)
        d_ap = distance[a, p][:, None]  # (pairs, 1)
        d_an = distance[a]  # (pairs, N)
        band = ~same[a] & (d_an > d_ap) & (d_an < d_ap + self.margin)
        n = d_an.masked_fill(~band, float("inf")).argmin(1)
        keep = band.any(1)
        return a[keep], p[keep], n[keep]
