"""Finding faces and their five landmarks with MTCNN.

MTCNN (Zhang, Zhang, Li, Qiao, "Joint Face Detection and Alignment Using Multitask Cascaded Convolutional
Networks", IEEE SPL 2016) runs three small networks over an image pyramid and returns, per face, a box, a
probability and five landmarks: the eye on the image's left, the other eye, the nose tip and the two mouth
corners. We use facenet-pytorch's port, whose weights ship in its wheel (nothing is downloaded).

A face we cannot find is an error the user can fix (``NoFaceError``), never a silent fall-back to the whole image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

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


class NoFaceError(ValueError):
    """No face clears the detector's threshold."""

    def __init__(self) -> None:
        super().__init__("no face found in the photo: use a photo where one face is clearly visible, facing the camera")


@dataclass(frozen=True, eq=False)
class Face:
    """One detected face, in the pixel frame of the image it was found in."""

    box: tuple[float, float, float, float]
    """(x0, y0, x1, y1)."""
    probability: float
    landmarks: np.ndarray
    """(5, 2) x, y: left eye, right eye, nose, left and right mouth corners (left and right as seen in the image)."""

    @property
    def centre(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        return (x0 + x1) / 2, (y0 + y1) / 2

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.box
        return max(0.0, x1 - x0) * max(0.0, y1 - y0)

    def to_dict(self) -> dict:
        """Plain floats and lists, ready for JSON."""
        return {
            "box": [round(v, 2) for v in self.box],
            "probability": round(self.probability, 4),
            "landmarks": np.round(self.landmarks, 2).tolist(),
        }


class FaceDetector:
    """Every face of a photo with probability at least ``min_probability``, largest first.

    ``min_face_size`` (pixels) is the smallest face searched for, in the detection frame (the photo shrunk to
    ``max_side``). The MTCNN networks are built on the first call.
    """

    def __init__(
        self, min_probability: float = 0.9, min_face_size: int = 20, device: str = "cpu", max_side: int = MAX_SIDE,
        thresholds: tuple[float, float, float] = THRESHOLDS,
    ) -> None:
        self.min_probability = min_probability
        self.min_face_size = min_face_size
        self.device = device
        self.max_side = max_side
        self.thresholds = tuple(thresholds)
        self._mtcnn: MTCNN | None = None

    @property
    def mtcnn(self) -> MTCNN:
        if self._mtcnn is None:
            from facenet_pytorch import MTCNN

            self._mtcnn = MTCNN(
                keep_all=True, post_process=False, select_largest=False, min_face_size=self.min_face_size,
                thresholds=list(self.thresholds), device=self.device,
            )
        return self._mtcnn

    def detect(self, image: Image.Image) -> list[Face]:
        """The faces of an RGB ``image``, sorted by area, largest first."""
        scale = min(1.0, self.max_side / max(image.size))
        small = image if scale == 1.0 else image.resize(
            (max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.Resampling.BILINEAR
        )
        if min(small.size) < self.min_face_size:  # no face fits (and MTCNN's pyramid would be empty)
            return []
        sx, sy = image.width / small.width, image.height / small.height
        boxes, probs, points = self.mtcnn.detect(small, landmarks=True)
        if boxes is None:
            return []
        faces = [
            Face(
                box=(float(b[0] * sx), float(b[1] * sy), float(b[2] * sx), float(b[3] * sy)),
                probability=float(p),
                landmarks=np.asarray(l, dtype=np.float64) * (sx, sy),
            )
            for b, p, l in zip(boxes, probs, points)
            if p >= self.min_probability
        ]
        return sorted(faces, key=lambda face: face.area, reverse=True)


def select_face(faces: list[Face], number: int | None = None) -> Face:
    """The largest face, or face ``number`` (faces sorted largest first, numbered from 0); ``NoFaceError`` when
    there is none."""
    if not faces:
        raise NoFaceError()
    if number is None:
        return faces[0]
    if not 0 <= number < len(faces):
        raise ValueError(f"face {number} does not exist: the photo has {len(faces)} face(s), numbered 0 to {len(faces) - 1}")
    return faces[number]


def nearest_face(faces: list[Face], point: tuple[float, float]) -> Face | None:
    """The face whose box centre is nearest ``point``, or None when there is no face."""
    return min(faces, key=lambda face: np.hypot(face.centre[0] - point[0], face.centre[1] - point[1]), default=None)
