"""Open Model Zoo's face detector and landmark regressor, run by OpenVINO: an SSD finds the faces, then a small
network places five landmarks in each face's crop.

- ``face-detection-retail-0004``: an SSD (Liu, Anguelov, Erhan, Szegedy, Reed, Fu, Berg, "SSD: Single Shot
  MultiBox Detector", ECCV 2016) on a SqueezeNet-light backbone; the whole photo is resized to its 300x300 BGR
  input (0-255) and it returns up to 200 boxes with a confidence, corners as fractions of the photo.
- ``landmarks-regression-retail-0009``: a 48x48 BGR crop of one face in, five points out as fractions of the
  crop: left eye, right eye, nose tip, left and right mouth corners, left and right as seen in the image (ours).

The crop is the one of Open Model Zoo's face recognition demo (``face_detector.py``: ``rescale_roi`` with
``roi_scale_factor=1.15``, then ``clip``; ``utils.crop``): the box enlarged 1.15 times about its centre, clipped
to the photo, its corners truncated to whole pixels, resized to 48x48. It is cut from the full-resolution photo,
and the points are mapped back through it. (Where the enlarged box crosses the photo's left or top edge, the demo
keeps its size and so shifts it inwards; we keep the part inside the photo.) The boxes returned are the
detector's own, not enlarged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from model.faces.detectors.base import Detector, Face, resized

DETECTOR_WEIGHTS = "face-detection-retail-0004"
LANDMARK_WEIGHTS = "landmarks-regression-retail-0009"
DETECTOR_SIZE = 300
LANDMARK_SIZE = 48
ROI_SCALE = 1.15
"""Open Model Zoo's ``roi_scale_factor``: the box is enlarged this much before the landmark crop is cut."""


def bgr_input(rgb: np.ndarray, size: int) -> np.ndarray:
    """An RGB uint8 array resized to ``size`` x ``size`` (``base.resized``) as a (1, 3, size, size) float32 BGR
    0-255 batch."""
    square = resized(rgb, (size, size))
    return np.ascontiguousarray(square[:, :, ::-1].transpose(2, 0, 1)[None], dtype=np.float32)


def landmark_crop(box: tuple[float, float, float, float], width: int, height: int, scale: float = ROI_SCALE) -> tuple[int, int, int, int]:
    """The pixel box the landmark regressor sees for face ``box`` in a ``width`` x ``height`` photo: Open Model
    Zoo's, ``box`` enlarged ``scale`` times about its centre, clipped to the photo, corners truncated."""
    x0, y0, x1, y1 = box
    w, h = (x1 - x0) * scale, (y1 - y0) * scale
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left, top = int(np.clip(cx - w / 2, 0, width)), int(np.clip(cy - h / 2, 0, height))
    right, bottom = int(np.clip(cx + w / 2, 0, width)), int(np.clip(cy + h / 2, 0, height))
    return left, top, right, bottom


def infer(request: Any, batch: np.ndarray) -> np.ndarray:
    """The one output of an OpenVINO inference request for ``batch`` (a copy: the request reuses its buffer)."""
    request.infer([batch])
    return request.get_output_tensor(0).data.copy()


class OpenVinoSsdDetector(Detector):
    """Every face with the SSD's confidence at least ``min_probability``, largest first, with the regressor's
    landmarks.

    The SSD always sees the whole photo resized to 300x300 (not shrunk first: the landmark crops are cut from the
    full resolution). ``threads``: each network's inference threads (0: OpenVINO's default). ``weights_dir``: the
    folder of the pretrained models (default: the ``weights_dir`` setting).
    """

    name = "openvino"
    max_side = 0

    def __init__(self, min_probability: float = 0.5, threads: int = 0, weights_dir: str | Path | None = None) -> None:
        self.min_probability = min_probability
        self.threads = threads
        self.weights_dir = weights_dir

    def _build(self) -> tuple[Any, Any]:
        import openvino as ov

        from model.pretrained import model_file

        root = Path(self.weights_dir) if self.weights_dir is not None else None
        core = ov.Core()
        config = {"INFERENCE_NUM_THREADS": self.threads} if self.threads > 0 else {}
        return tuple(
            core.compile_model(core.read_model(model_file(name, root)), "CPU", config)
            for name in (DETECTOR_WEIGHTS, LANDMARK_WEIGHTS)
        )

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
        rows = infer(detector, bgr_input(rgb, DETECTOR_SIZE)).reshape(-1, 7)
        rows = rows[(rows[:, 0] >= 0) & (rows[:, 2] >= self.min_probability)]  # image id -1 ends the list
        height, width = rgb.shape[:2]
        faces = []
        for row in rows:
            box = tuple(float(v) for v in row[3:7] * (width, height, width, height))
            left, top, right, bottom = landmark_crop(box, width, height)
            if right - left < 1 or bottom - top < 1:
                continue
            crop = rgb[top:bottom, left:right]
            points = infer(regressor, bgr_input(crop, LANDMARK_SIZE)).reshape(5, 2).astype(np.float64)
            faces.append(Face(box, float(row[2]), points * (right - left, bottom - top) + (left, top)))
        return faces
