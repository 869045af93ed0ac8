"""MTCNN: three small cascaded networks over an image pyramid, with a probability and five landmarks per face.

Zhang, Zhang, Li, Qiao, "Joint Face Detection and Alignment Using Multitask Cascaded Convolutional Networks",
IEEE Signal Processing Letters 23(10), 2016. We use facenet-pytorch's port, whose weights ship in its wheel
(nothing is downloaded). Its landmarks come in our order: the eye on the image's left, the other eye, the nose
tip, the mouth corner on the image's left, the other one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from model.faces.detectors.base import Detector, Face

if TYPE_CHECKING:
    from facenet_pytorch import MTCNN

MAX_SIDE = 640
"""Photos whose longest side exceeds this are shrunk to it for detection; boxes and landmarks come back at full
resolution, and the face is cropped from the full-resolution photo. At 640 pixels MTCNN still finds faces of
about 3% of the longest side (20 pixels in the shrunk frame) and takes about a third of the time it takes at
1280 (docs/performance.md)."""

THRESHOLDS = (0.7, 0.8, 0.9)
"""MTCNN's three stage thresholds (facenet-pytorch's default: 0.6, 0.7, 0.7). Ours pass fewer candidate boxes from
one stage to the next, which makes detection faster, and the last equals our ``min_probability``, whose faces
are the only ones kept anyway; ``bench/detector_speed.py`` measures the time and the faces found with each."""


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """PyTorch's intra-op threads set to ``threads`` for the block (0, or the count already set: left alone)."""
    import torch

    saved = torch.get_num_threads()
    if threads <= 0 or threads == saved:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


class MtcnnDetector(Detector):
    """Every face of a photo with probability at least ``min_probability``, largest first.

    ``min_face_size`` (pixels) is the smallest face searched for, in the detection frame (the photo shrunk to
    ``max_side``). ``thresholds`` are the three stages' own. ``threads``: PyTorch's threads during detection
    (0: as set for the process, which ``doppelganger serve`` sets to ``match_threads``).
    """

    name = "mtcnn"

    def __init__(
        self, min_probability: float = 0.9, min_face_size: int = 20, device: str = "cpu", max_side: int = MAX_SIDE,
        thresholds: tuple[float, float, float] = THRESHOLDS, threads: int = 0,
    ) -> None:
        self.min_probability = min_probability
        self.min_face_size = min_face_size
        self.device = device
        self.max_side = max_side
        self.thresholds = tuple(thresholds)
        self.threads = threads

    @property
    def mtcnn(self) -> MTCNN:
        """facenet-pytorch's ``MTCNN`` module (built on first use)."""
        return self.network

    def _build(self) -> MTCNN:
        from facenet_pytorch import MTCNN

        return MTCNN(
            keep_all=True, post_process=False, select_largest=False, min_face_size=self.min_face_size,
            thresholds=list(self.thresholds), device=self.device,
        )

    def _detect(self, image: Image.Image) -> list[Face]:
        if min(image.size) < self.min_face_size:  # no face fits (and MTCNN's pyramid would be empty)
            return []
        with torch_threads(self.threads):
            boxes, probs, points = self.network.detect(image, landmarks=True)
        if boxes is None:
            return []
        return [
            Face(tuple(float(v) for v in b[:4]), float(p), np.asarray(l, dtype=np.float64))
            for b, p, l in zip(boxes, probs, points)
        ]
