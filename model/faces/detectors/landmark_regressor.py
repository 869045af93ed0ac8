"""Open Model Zoo's ``landmarks-regression-retail-0009``, run by OpenVINO: five landmarks from a face's crop.

A 48x48 BGR crop (0-255) in, five points out as fractions of the crop: left eye, right eye, nose tip, left and
right mouth corners, left and right as seen in the image (our order). The crop is the one of Open Model Zoo's face
recognition demo (``face_detector.py``: ``rescale_roi`` with ``roi_scale_factor=1.15``, then ``clip``;
``utils.crop``): the detector's box enlarged ``scale`` times about its centre, clipped to the photo, its corners
truncated to whole pixels, resized to 48x48. (Where the enlarged box crosses the photo's left or top edge, the demo
keeps its size and so shifts it inwards; we keep the part inside the photo.) It is cut from the full-resolution
photo, and the points are mapped back through it.

Its points follow a face's tilt, which YuNet's own do not (docs/faces.md, "Detectors"): the SSD detector uses it
on the SSD's boxes, YuNet on its own boxes (``YuNetDetector(landmarks="regressor")``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from model.faces.detectors.base import Face, resized

WEIGHTS = "landmarks-regression-retail-0009"
SIZE = 48
ROI_SCALE = 1.15
"""Open Model Zoo's ``roi_scale_factor`` for its SSD's boxes: the box is enlarged this much before the crop."""


def compile_openvino(name: str, threads: int = 0, weights_dir: str | Path | None = None) -> Any:
    """The pretrained OpenVINO model ``name`` (``model.pretrained``) compiled for the CPU, with ``threads`` inference
    threads (0: OpenVINO's default)."""
    import openvino as ov

    from model.pretrained import model_file

    core = ov.Core()
    config = {"INFERENCE_NUM_THREADS": threads} if threads > 0 else {}
    return core.compile_model(core.read_model(model_file(name, Path(weights_dir) if weights_dir is not None else None)), "CPU", config)


def bgr_input(rgb: np.ndarray, size: int) -> np.ndarray:
    """An RGB uint8 array resized to ``size`` x ``size`` (``base.resized``) as a (1, 3, size, size) float32 BGR
    0-255 batch."""
    square = resized(rgb, (size, size))
    return np.ascontiguousarray(square[:, :, ::-1].transpose(2, 0, 1)[None], dtype=np.float32)


def infer(request: Any, batch: np.ndarray) -> np.ndarray:
    """The one output of an OpenVINO inference request for ``batch`` (a copy: the request reuses its buffer)."""
    request.infer([batch])
    return request.get_output_tensor(0).data.copy()


def landmark_crop(box: tuple[float, float, float, float], width: int, height: int, scale: float = ROI_SCALE) -> tuple[int, int, int, int]:
    """The pixel box the regressor sees for face ``box`` in a ``width`` x ``height`` photo: ``box`` enlarged
    ``scale`` times about its centre, clipped to the photo, corners truncated (Open Model Zoo's)."""
    x0, y0, x1, y1 = box
    w, h = (x1 - x0) * scale, (y1 - y0) * scale
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left, top = int(np.clip(cx - w / 2, 0, width)), int(np.clip(cy - h / 2, 0, height))
    right, bottom = int(np.clip(cx + w / 2, 0, width)), int(np.clip(cy + h / 2, 0, height))
    return left, top, right, bottom


def regressed(request: Any, image: Image.Image | np.ndarray, face: Face, scale: float = ROI_SCALE) -> Face | None:
    """``face`` with the regressor's landmarks (``request``: an inference request of the compiled regressor), from
    ``image`` (PIL or an RGB array) in whose pixels ``face`` is; None when its crop is empty."""
    width, height = image.size if isinstance(image, Image.Image) else (image.shape[1], image.shape[0])
    left, top, right, bottom = landmark_crop(face.box, width, height, scale)
    if right - left < 1 or bottom - top < 1:
        return None
    if isinstance(image, Image.Image):
        crop = np.asarray(image.crop((left, top, right, bottom)))
    else:
        crop = image[top:bottom, left:right]
    points = infer(request, bgr_input(crop, SIZE)).reshape(5, 2).astype(np.float64)
    return Face(face.box, face.probability, points * (right - left, bottom - top) + (left, top))
