"""``EmbeddingNet``: the one network of a siamese pair (both branches share it), image -> unit-length vector."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from model.networks.backbones import IMAGENET_BACKBONES, build_backbone

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class EmbeddingNet(nn.Module):
    """Backbone, then a head (a linear projection to ``dim``, or none), then L2 normalisation.

    Takes float RGB images in [0, 1] (N, 3, H, W) and normalises them itself (ImageNet's statistics for the
    ImageNet backbones; a face backbone converts to its own convention), so every caller (training, the index,
    the app) feeds the same thing. Unit-length outputs make Euclidean distance and cosine similarity
    interchangeable: ``d^2 = 2 - 2 cos``.

    ``head="none"`` keeps the backbone's features as the embedding (``dim`` must be their width): a pretrained
    face backbone, as it is or fine-tuned. ``freeze_backbone`` fixes the backbone's weights (and its batch-norm
    statistics), so that only the head learns.
    """

    def __init__(
        self, backbone: str = "mobilenet_v2", dim: int = 64, pretrained: bool = True, head: str = "linear",
        freeze_backbone: bool = False,
    ) -> None:
        super().__init__()
        self.backbone_name = backbone
        self.dim = dim
        self.backbone, features = build_backbone(backbone, pretrained=pretrained)
        if head == "none":
            if dim != features:
                raise ValueError(f"--head none keeps the {backbone} features, so --dim must be {features}, got {dim}")
            self.head = nn.Identity()
        elif head == "linear":
            self.head = nn.Linear(features, dim)
        else:
            raise ValueError(f"unknown head {head!r}; choose linear or none")
        self.freeze_backbone = freeze_backbone
        if freeze_backbone:
            self.backbone.requires_grad_(False)
        self.imagenet_input = backbone in IMAGENET_BACKBONES
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @classmethod
    def from_config(cls, config, pretrained: bool | None = None) -> "EmbeddingNet":
        """The network a ``TrainConfig`` describes (``pretrained`` overrides ``config.pretrained``: a checkpoint
        about to be loaded needs no ImageNet weights)."""
        return cls(
            config.backbone, config.dim, pretrained=config.pretrained if pretrained is None else pretrained,
            head=config.head, freeze_backbone=config.freeze_backbone,
        )

    def train(self, mode: bool = True) -> "EmbeddingNet":
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()  # frozen batch-norm statistics too
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.imagenet_input:
            images = (images - self.mean) / self.std
        return F.normalize(self.head(self.backbone(images)), dim=1)
