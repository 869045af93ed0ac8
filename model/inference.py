"""Embedding images with a trained network: batched, in inference mode, on every core."""

from __future__ import annotations

import numpy as np
import torch

from model.transforms import to_float_batch


def embed_images(net: torch.nn.Module, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """uint8 images (N, H, W, 3) -> float32 embeddings (N, D), with the network in eval mode."""
    was_training = net.training
    net.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            out.append(net(to_float_batch(images[start : start + batch_size])).float().numpy())
    net.train(was_training)
    if not out:
        return np.zeros((0, getattr(net, "dim", 0)), dtype=np.float32)
    return np.concatenate(out)
