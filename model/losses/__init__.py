"""Metric-learning and distillation losses, one per module (the metric losses' names, ``LOSSES``, are
``model.config``'s); ``DistillationLoss`` weighs a distilled run's terms together."""

from model.losses.contrastive_loss import ContrastiveLoss
from model.losses.cosface_loss import CosFaceLoss
from model.losses.distillation_loss import DistillationLoss
from model.losses.embedding_distillation_loss import EmbeddingDistillationLoss
from model.losses.relational_distillation_loss import RelationalDistillationLoss
from model.losses.triplet_margin_loss import TripletMarginLoss

__all__ = [
    "ContrastiveLoss", "CosFaceLoss", "DistillationLoss", "EmbeddingDistillationLoss", "RelationalDistillationLoss",
    "TripletMarginLoss",
]
