"""Datasets: readers for LFW and TT100K, the decoded-image cache, splits, and the protocol files."""

from model.data.image_set import ImageSet

__all__ = ["ImageSet"]
