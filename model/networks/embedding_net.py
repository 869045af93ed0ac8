"""``EmbeddingNet``: the one network of a siamese pair (both branches share it), image -> unit-length vector."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from model.networks.backbones import build_backbone

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class EmbeddingNet(nn.Module):
    """Backbone, then a linear projection to ``dim``, then L2 normalisation.

    Takes float images in [0, 1] (N, 3, H, W) and normalises them itself, so every caller (training, the index,
    the app) feeds the same thing. Unit-length outputs make Euclidean distance and cosine similarity
    interchangeable: ``d^2 = 2 - 2 cos``.
    """

    def __init__(self, backbone: str = "mobilenet_v2", dim: int = 64, pretrained: bool = True) -> None:
        super().__init__()
        self.backbone_name = backbone
        self.dim = dim
        self.backbone, features = build_backbone(backbone, pretrained=pretrained)
        self.head = nn.Linear(features, dim)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.backbone((images - self.mean) / self.std)
        return F.normalize(self.head(features), dim=1)
