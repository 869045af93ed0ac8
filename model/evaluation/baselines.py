"""Two baselines that learn no metric, evaluated on the same split as the learned embeddings.

Raw pixels under Euclidean distance, and eigenfaces (Turk & Pentland, "Eigenfaces for Recognition", 1991)
whitened and compared by cosine, as in the whitened-PCA baseline of Nguyen & Bai, "Cosine Similarity Metric
Learning for Face Verification" (ACCV 2010).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from sklearn.decomposition import PCA


def raw_pixel_features(images_uint8: np.ndarray) -> np.ndarray:
    """Images (N, H, W, C) of uint8 as float32 rows (N, H*W*C) scaled to [0, 1]."""
    images = np.asarray(images_uint8)
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"expected uint8 images (N, H, W, C), got {images.dtype} {images.shape}")
    features = images.reshape(len(images), -1).astype(np.float32)
    features /= 255
    return features


class PcaWhitening:
    """PCA fitted on train features, whitened (unit variance per component), then L2-normalised."""

    def __init__(self, max_components: int = 128) -> None:
        self.max_components = max_components
        self.pca: PCA | None = None

    def fit(self, train_features: ArrayLike) -> PcaWhitening:
        x = np.asarray(train_features)
        if x.ndim != 2 or len(x) < 2:
            raise ValueError(f"expected at least two rows of features, got shape {x.shape}")
        n_components = min(self.max_components, len(x) - 1, x.shape[1])
        self.pca = PCA(n_components=n_components, whiten=True, random_state=0).fit(x)
        return self

    def transform(self, features: ArrayLike) -> np.ndarray:
        """Whitened projections (float32), each scaled to unit length so dot products are cosines."""
        if self.pca is None:
            raise RuntimeError("PcaWhitening.transform called before fit")
        z = self.pca.transform(np.asarray(features)).astype(np.float32)
        z /= np.maximum(np.linalg.norm(z, axis=1, keepdims=True), np.finfo(np.float32).tiny)
        return z
