"""Metric-learning losses, one per module."""

from model.losses.contrastive_loss import ContrastiveLoss
from model.losses.cosface_loss import CosFaceLoss
from model.losses.triplet_margin_loss import TripletMarginLoss

LOSSES = ("contrastive", "triplet", "cosface")

__all__ = ["LOSSES", "ContrastiveLoss", "CosFaceLoss", "TripletMarginLoss"]
