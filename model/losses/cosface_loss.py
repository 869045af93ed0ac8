"""CosFace (large margin cosine loss): Wang, Wang, Zhou, Ji, Gong, Zhou, Li, Liu, "CosFace: Large Margin Cosine
Loss for Deep Face Recognition", CVPR 2018.

A classifier over the training identities whose class weights W_j and features x are both L2-normalised, so
that its logits are cosines; the true class's cosine is lowered by a margin m and everything is scaled by s:

    L = -log( exp(s (cos θ_y - m)) / (exp(s (cos θ_y - m)) + sum_{j != y} exp(s cos θ_j)) )

averaged over the batch. To win, the true class must beat every other class by m in cosine. The class weights
are parameters of this module: the trainer must hand ``loss.parameters()`` to its optimiser with the network's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CosFaceLoss(nn.Module):
    """Large margin cosine loss with a learnable (num_classes, embedding_dim) class-weight matrix."""

    def __init__(self, num_classes: int, embedding_dim: int, margin: float = 0.35, scale: float = 64.0) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError("CosFace needs at least two classes")
        if scale <= 0:
            raise ValueError("scale must be positive")
        self.num_classes = num_classes
        self.embedding_dim = embedding_dim
        self.margin = float(margin)
        self.scale = float(scale)
        # Only the directions of the rows matter (they are normalised in forward): an isotropic Gaussian gives
        # uniformly random directions.
        self.weight = nn.Parameter(torch.empty(num_classes, embedding_dim))
        nn.init.normal_(self.weight)
        self.last_active_fraction = 0.0
        """Fraction of the samples of the last call whose true class does not yet win by the margin."""

    def cosine(self, embeddings: torch.Tensor) -> torch.Tensor:
        """(N, num_classes) cosines between the embeddings and the class weights (both normalised here)."""
        return F.normalize(embeddings, dim=1) @ F.normalize(self.weight, dim=1).t()

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``embeddings`` (N, D); ``labels`` (N,) int64 class indices in [0, num_classes). Returns the mean loss."""
        cosine = self.cosine(embeddings)
        margin = F.one_hot(labels, self.num_classes).to(cosine.dtype) * self.margin
        logits = cosine - margin
        with torch.no_grad():
            self.last_active_fraction = float((logits.argmax(dim=1) != labels).float().mean()) if len(labels) else 0.0
        return F.cross_entropy(self.scale * logits, labels)
