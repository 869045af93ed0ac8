"""Metric-learning losses, one per module (their names, ``LOSSES``, are ``model.config``'s)."""

from model.losses.contrastive_loss import ContrastiveLoss
from model.losses.cosface_loss import CosFaceLoss
from model.losses.triplet_margin_loss import TripletMarginLoss

__all__ = ["ContrastiveLoss", "CosFaceLoss", "TripletMarginLoss"]
