"""YuNet: a tiny anchor-free face detector with five landmarks, run by OpenCV's ``cv2.FaceDetectorYN``.

Wu, Peng, Yu, "YuNet: A Tiny Millisecond-level Face Detector", Machine Intelligence Research 20(5), 2023
(libfacedetection, MIT). We run OpenCV Zoo's int8 block-quantised build, ``face_detection_yunet_2023mar_int8bq``
(``model.pretrained``), which ``FaceDetectorYN`` reads as it is.

YuNet names its landmarks from the subject's side: right eye, left eye, nose tip, right and left mouth corners.
The subject's right eye is the one on the image's left, so its order already is ours (the eye on the image's left
first, ...): each row is taken as it comes, and ``tests/model/faces/test_detectors.py`` checks on real photos that
the points land within a few pixels of MTCNN's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from model.faces.detectors.base import Detector, Face, shrunk_bgr

WEIGHTS = "face_detection_yunet_2023mar_int8bq"
"""The pretrained model's name in ``model.pretrained.MODELS``."""


@contextlib.contextmanager
def opencv_threads(threads: int) -> Iterator[None]:
    """OpenCV's worker threads set to ``threads`` for the block (0, or the count already set: left alone)."""
    import cv2

    saved = cv2.getNumThreads()
    if threads <= 0 or threads == saved:
        yield
        return
    cv2.setNumThreads(threads)
    try:
        yield
    finally:
        cv2.setNumThreads(saved)


class YuNetDetector(Detector):
    """Every face of a photo with YuNet's score at least ``min_probability``, largest first.

    The photo is shrunk so that its longest side is at most ``max_side`` and YuNet runs at that size (its input
    size follows the image; OpenCV pads it to a multiple of 32). YuNet finds faces from about 10 pixels of that
    frame. ``nms_threshold`` and ``top_k`` are ``FaceDetectorYN``'s own; ``threads``: OpenCV's threads during
    detection (0: OpenCV's default, every core). ``weights_dir``: the folder of the pretrained models (default:
    the ``weights_dir`` setting).
    """

    name = "yunet"

    def __init__(
        self, min_probability: float = 0.7, max_side: int = 640, nms_threshold: float = 0.3, top_k: int = 5000,
        threads: int = 0, weights_dir: str | Path | None = None,
    ) -> None:
        self.min_probability = min_probability
        self.max_side = max_side
        self.nms_threshold = nms_threshold
        self.top_k = top_k
        self.threads = threads
        self.weights_dir = weights_dir

    def _build(self) -> str:
        """The checked model file (each thread creates its own ``FaceDetectorYN`` from it: one holds an input size)."""
        from model.pretrained import model_file

        return str(model_file(WEIGHTS, Path(self.weights_dir) if self.weights_dir is not None else None))

    def _yunet(self) -> Any:
        local = self.per_thread
        if getattr(local, "yunet", None) is None:
            import cv2

            local.yunet = cv2.FaceDetectorYN.create(self.network, "", (320, 320), self.min_probability, self.nms_threshold, self.top_k)
        return local.yunet

    def _shrink(self, image: Image.Image) -> tuple[np.ndarray, float, float]:
        return shrunk_bgr(image, self.max_side)

    def _detect(self, bgr: np.ndarray) -> list[Face]:
        net = self._yunet()
        net.setInputSize((bgr.shape[1], bgr.shape[0]))
        net.setScoreThreshold(self.min_probability)
        with opencv_threads(self.threads):
            _, rows = net.detect(bgr)
        if rows is None:
            return []
        faces = []
        for row in rows:
            x, y, w, h = (float(v) for v in row[:4])
            faces.append(Face((x, y, x + w, y + h), float(row[14]), row[4:14].astype(np.float64).reshape(5, 2)))
        return faces
