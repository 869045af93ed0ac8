"""Batch all: every valid triplet of the batch (Hermans, Beyer, Leibe, "In Defense of the Triplet Loss for
Person Re-Identification", arXiv:1703.07737, 2017).

A triplet is valid when the anchor and the positive are two different images of one class and the negative is
of another class. By default (``only_active=True``) only the triplets that violate the margin are returned,

    d(a, p) - d(a, n) + margin > 0,

i.e. those whose hinge loss is non-zero: the triplet loss's mean over them is Hermans et al.'s "BA≠0", the
average over active triplets, which does not fade as most triplets become easy. ``only_active=False`` returns all
of them (their plain "BA"). Use the loss's margin and ``squared`` here. The triplets come in order of anchor,
then positive, then negative.
"""

from __future__ import annotations

import torch


class BatchAllMiner:
    """``miner(embeddings, labels) -> (a, p, n)``: all valid triplets, or only those violating ``margin``."""

    def __init__(self, margin: float = 0.2, only_active: bool = True, squared: bool = False) -> None:
        self.margin = float(margin)
        self.only_active = only_active
        self.squared = squared

    @torch.no_grad()
    def __call__(
        self, embeddings: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        same = labels[:, None] == labels[None, :]
        positive = same & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
        valid = positive[:, :, None] & ~same[:, None, :]  # valid[a, p, n]
        if self.only_active:
            distance = torch.cdist(embeddings.detach(), embeddings.detach())
            if self.squared:
                distance = distance.pow(2)
            valid &= distance[:, :, None] - distance[:, None, :] + self.margin > 0
        a, p, n = torch.nonzero(valid, as_tuple=True)
        return a, p, n
