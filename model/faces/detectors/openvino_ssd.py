"""Open Model Zoo's face detector and landmark regressor, run by OpenVINO: an SSD finds the faces, then a small
network places five landmarks in each face's crop.

- ``face-detection-retail-0004``: an SSD (Liu, Anguelov, Erhan, Szegedy, Reed, Fu, Berg, "SSD: Single Shot
  MultiBox Detector", ECCV 2016) on a SqueezeNet-light backbone; the whole photo is resized to its 300x300 BGR
  input (0-255) and it returns up to 200 boxes with a confidence, corners as fractions of the photo.
- ``landmarks-regression-retail-0009`` on each box enlarged 1.15 times, as Open Model Zoo's face recognition demo
  crops it (``landmark_regressor``).

The boxes returned are the detector's own, not enlarged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from model.faces.detectors import landmark_regressor
from model.faces.detectors.base import Detector, Face
from model.faces.detectors.landmark_regressor import bgr_input, compile_openvino, infer, regressed

WEIGHTS = "face-detection-retail-0004"
SIZE = 300
MIN_CONFIDENCE = 0.4
"""The SSD's confidence threshold (Open Model Zoo's demo keeps 0.5 and above): at 0.4 it also finds a face looking
down that it scores 0.48, still without a false positive in ``bench/detection.py``'s 54 photos (one at 0.3)."""


class OpenVinoSsdDetector(Detector):
    """Every face with the SSD's confidence at least ``min_probability``, largest first, with the regressor's
    landmarks.

    The SSD always sees the whole photo resized to 300x300 (not shrunk first: the landmark crops are cut from the
    full resolution). ``threads``: each network's inference threads (0: OpenVINO's default). ``weights_dir``: the
    folder of the pretrained models (default: the ``weights_dir`` setting).
    """

    name = "openvino"
    max_side = 0

    def __init__(self, min_probability: float = MIN_CONFIDENCE, threads: int = 0, weights_dir: str | Path | None = None) -> None:
        self.min_probability = min_probability
        self.threads = threads
        self.weights_dir = weights_dir

    def _build(self) -> tuple[Any, Any]:
        return tuple(compile_openvino(name, self.threads, self.weights_dir) for name in (WEIGHTS, landmark_regressor.WEIGHTS))

    def _requests(self) -> tuple[Any, Any]:
        """This thread's inference requests of the two compiled networks (a request serves one call at a time)."""
        local = self.per_thread
        if getattr(local, "requests", None) is None:
            local.requests = tuple(compiled.create_infer_request() for compiled in self.network)
        return local.requests

    def _shrink(self, image: Image.Image) -> tuple[np.ndarray, float, float]:
        return np.asarray(image), 1.0, 1.0

    def _detect(self, rgb: np.ndarray) -> list[Face]:
        detector, regressor = self._requests()
        rows = infer(detector, bgr_input(rgb, SIZE)).reshape(-1, 7)
        rows = rows[(rows[:, 0] >= 0) & (rows[:, 2] >= self.min_probability)]  # image id -1 ends the list
        height, width = rgb.shape[:2]
        faces = []
        for row in rows:
            box = tuple(float(v) for v in row[3:7] * (width, height, width, height))
            face = regressed(regressor, rgb, Face(box, float(row[2]), np.zeros((5, 2))))
            if face is not None:
                faces.append(face)
        return faces
