"""YuNet: a tiny anchor-free face detector with five landmarks, run by OpenCV's ``cv2.FaceDetectorYN``.

Wu, Peng, Yu, "YuNet: A Tiny Millisecond-level Face Detector", Machine Intelligence Research 20(5), 2023
(libfacedetection, MIT). We run OpenCV Zoo's int8 block-quantised build, ``face_detection_yunet_2023mar_int8bq``
(``model.pretrained``), which ``FaceDetectorYN`` reads as it is.

YuNet names its landmarks from the subject's side: right eye, left eye, nose tip, right and left mouth corners.
The subject's right eye is the one on the image's left, so its order already is ours (the eye on the image's left
first, ...): each row is taken as it comes. Its points are coarse, though: on LFW they lie a median 9.5% of the eye
distance from MTCNN's (the landmarks the gallery is aligned with), and on faces turned by 30 degrees 25%, as they
barely turn with the face. By default (``landmarks="regressor"``) they are replaced by those of Open Model Zoo's
landmark regressor on YuNet's box (``landmark_regressor``; the box as it is, YuNet's boxes being about as large as
the SSD's enlarged ones): 4.3% and 6.1% from MTCNN's, for about 1 ms a face (``bench/detection.py``, docs/faces.md
"Detectors").
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from model.faces.detectors import landmark_regressor
from model.faces.detectors.base import Detector, Face, shrunk_bgr

WEIGHTS = "face_detection_yunet_2023mar_int8bq"
"""The pretrained model's name in ``model.pretrained.MODELS``."""
MAX_SIDE = 320
"""Photos are shrunk to this longest side for YuNet: faces from about 10 pixels there, 3% of the photo's longest
side (as MTCNN's 20 pixels in 640), and about 10 ms for a 1 MP photo on one thread (12 to 15 with the regressor's
landmarks, on a busy machine); at 640, three times slower, it finds more faces turned by 30 degrees (45 of 50
against 33 in ``bench/detection.py``), no more upright ones."""
MIN_SCORE = 0.6
"""YuNet's score threshold. The quantised model scores faces lower than OpenCV Zoo's float one (whose demo keeps
0.9): at 0.9 it misses a fifth of LFW's faces; from 0.5 to 0.8 it finds every upright labelled face of
``bench/detection.py`` at 320 pixels without a false positive, and lower thresholds find more turned faces."""
LANDMARKS = ("regressor", "yunet")
"""Where the landmarks come from: Open Model Zoo's regressor on YuNet's box, or YuNet itself."""
REGRESSOR_SCALE = 1.0
"""YuNet's box is cropped as it is for the regressor (Open Model Zoo enlarges its SSD's boxes 1.15 times: on LFW,
1.0 puts the points closer to MTCNN's, 4.3% of the eye distance against 4.5%)."""


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
    frame. ``landmarks``: ``"regressor"`` (Open Model Zoo's landmark regressor on each face, from the full-resolution
    photo) or ``"yunet"`` (YuNet's own). ``nms_threshold`` and ``top_k`` are ``FaceDetectorYN``'s own;
    ``threads``: OpenCV's (and the regressor's) threads during detection (0: their default, every core).
    ``weights_dir``: the folder of the pretrained models (default: the ``weights_dir`` setting).
    """

    name = "yunet"

    def __init__(
        self, min_probability: float = MIN_SCORE, max_side: int = MAX_SIDE, landmarks: str = "regressor",
        nms_threshold: float = 0.3, top_k: int = 5000, threads: int = 0, weights_dir: str | Path | None = None,
    ) -> None:
        if landmarks not in LANDMARKS:
            raise ValueError(f"unknown landmarks {landmarks!r}: choose one of {', '.join(LANDMARKS)}")
        self.min_probability = min_probability
        self.max_side = max_side
        self.landmarks = landmarks
        self.nms_threshold = nms_threshold
        self.top_k = top_k
        self.threads = threads
        self.weights_dir = weights_dir

    def _build(self) -> tuple[str, Any]:
        """The checked model file (each thread creates its own ``FaceDetectorYN`` from it: one holds an input size)
        and the compiled landmark regressor (None with YuNet's own landmarks)."""
        from model.pretrained import model_file

        path = str(model_file(WEIGHTS, Path(self.weights_dir) if self.weights_dir is not None else None))
        regressor = None
        if self.landmarks == "regressor":
            regressor = landmark_regressor.compile_openvino(landmark_regressor.WEIGHTS, self.threads, self.weights_dir)
        return path, regressor

    def _yunet(self) -> Any:
        local = self.per_thread
        if getattr(local, "yunet", None) is None:
            import cv2

            local.yunet = cv2.FaceDetectorYN.create(
                self.network[0], "", (320, 320), self.min_probability, self.nms_threshold, self.top_k,
            )
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

    def _refine(self, image: Image.Image, faces: list[Face]) -> list[Face]:
        if self.landmarks != "regressor" or not faces:
            return faces
        local = self.per_thread
        if getattr(local, "regressor", None) is None:
            local.regressor = self.network[1].create_infer_request()
        return [landmark_regressor.regressed(local.regressor, image, face, REGRESSOR_SCALE) or face for face in faces]
