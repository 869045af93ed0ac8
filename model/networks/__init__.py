"""Embedding networks: a backbone, a projection to the embedding dimension, L2-normalised output."""

from model.networks.backbones import BACKBONES, build_backbone
from model.networks.embedding_net import EmbeddingNet

__all__ = ["BACKBONES", "EmbeddingNet", "build_backbone"]
