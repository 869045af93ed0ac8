"""Metric-learning losses, one per module."""

from model.losses.contrastive_loss import ContrastiveLoss

LOSSES = ("contrastive",)

__all__ = ["LOSSES", "ContrastiveLoss"]
