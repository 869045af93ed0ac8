"""Random triplets: the baseline that mines nothing (FaceNet's Schroff et al., CVPR 2015, contrast their mining
with it; Hermans, Beyer, Leibe, arXiv:1703.07737, 2017, show why random triplets learn slowly: most are easy).

Every anchor with a positive and a negative in the batch gets ``triplets_per_anchor`` triplets, each with a
positive drawn uniformly among its other images of its class and a negative drawn uniformly among the images of
the other classes, independently and with replacement. Anchors without a positive or a negative give none.
"""

from __future__ import annotations

import torch


class RandomTripletMiner:
    """``miner(embeddings, labels) -> (a, p, n)``; with a ``seed``, the sequence of calls is reproducible."""

    def __init__(self, triplets_per_anchor: int = 1, seed: int | None = None) -> None:
        if triplets_per_anchor < 1:
            raise ValueError("triplets_per_anchor must be at least 1")
        self.triplets_per_anchor = int(triplets_per_anchor)
        self.generator = torch.Generator()
        if seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(seed)

    @torch.no_grad()
    def __call__(
        self, embeddings: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # Drawn on the CPU, where the generator lives: the masks are small.
        labels = labels.detach().cpu()
        same = labels[:, None] == labels[None, :]
        positive = same & ~torch.eye(len(labels), dtype=torch.bool)
        negative = ~same
        anchors = torch.nonzero(positive.any(1) & negative.any(1)).flatten()
        t = self.triplets_per_anchor
        if len(anchors) == 0:
            empty = torch.empty(0, dtype=torch.long, device=embeddings.device)
            return empty, empty.clone(), empty.clone()
        p = torch.multinomial(positive[anchors].float(), t, replacement=True, generator=self.generator)
        n = torch.multinomial(negative[anchors].float(), t, replacement=True, generator=self.generator)
        a = anchors.repeat_interleave(t)
        device = embeddings.device
        return a.to(device), p.flatten().to(device), n.flatten().to(device)
