"""What every face detector returns and shares: ``Face``, ``NoFaceError``, the ``Detector`` base class, and the
choice of a face among those found (``select_face``, ``nearest_face``).

A detector takes an upright RGB ``PIL.Image`` and returns ``list[Face]``, largest first, in the pixel frame of the
image it was given, whatever size it looked at internally. Every detector builds its network on first use and
pickles without it, so process pools can carry one to their workers.

A face we cannot find is an error the user can fix (``NoFaceError``), never a silent fall-back to the whole image.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from PIL import Image


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
    """The detector's confidence, 0 to 1 (MTCNN's probability, YuNet's score, the SSD's confidence)."""
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

    def scaled(self, sx: float, sy: float) -> "Face":
        """The same face in a frame ``sx`` times wider and ``sy`` times taller (a shrunk photo's face mapped back)."""
        x0, y0, x1, y1 = self.box
        return Face((x0 * sx, y0 * sy, x1 * sx, y1 * sy), self.probability, np.asarray(self.landmarks, np.float64) * (sx, sy))

    def clipped(self, width: float, height: float) -> "Face":
        """The same face with its box clipped to a ``width`` x ``height`` image (landmarks left as they are)."""
        x0, y0, x1, y1 = self.box
        box = (min(max(x0, 0.0), width), min(max(y0, 0.0), height), min(max(x1, 0.0), width), min(max(y1, 0.0), height))
        return self if box == self.box else Face(box, self.probability, self.landmarks)

    def to_dict(self) -> dict:
        """Plain floats and lists, ready for JSON."""
        return {
            "box": [round(v, 2) for v in self.box],
            "probability": round(self.probability, 4),
            "landmarks": np.round(self.landmarks, 2).tolist(),
        }


def largest_first(faces: list[Face]) -> list[Face]:
    return sorted(faces, key=lambda face: face.area, reverse=True)


def shrunk_size(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """``size`` (width, height) scaled down, aspect kept, so that its longest side is at most ``max_side`` (0: as is)."""
    width, height = size
    scale = 1.0 if max_side <= 0 else min(1.0, max_side / max(width, height))
    return (width, height) if scale == 1.0 else (max(1, round(width * scale)), max(1, round(height * scale)))


def resized(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``array`` (H, W, C) resized to ``size`` (width, height): halved by OpenCV's Gaussian pyramid while it is at
    least twice as large, then bilinear. Nearly as clean as area averaging and several times faster than it or
    Pillow's bilinear filter on large photos (a 12 MP photo to 640 px: about 20 ms against 50 and 80)."""
    import cv2

    while array.shape[1] >= 2 * size[0] and array.shape[0] >= 2 * size[1]:
        array = cv2.pyrDown(array)
    if (array.shape[1], array.shape[0]) == tuple(size):
        return array
    return cv2.resize(array, tuple(size), interpolation=cv2.INTER_LINEAR)


def shrunk_bgr(image: Image.Image, max_side: int) -> tuple[np.ndarray, float, float]:
    """``image`` as a contiguous BGR uint8 array shrunk (``resized``) so that its longest side is at most
    ``max_side``, with the factors ``(sx, sy)`` back to the image's coordinates."""
    size = shrunk_size(image.size, max_side)
    array = resized(np.asarray(image), size)
    return np.ascontiguousarray(array[:, :, ::-1]), image.width / size[0], image.height / size[1]


def shrunk(image: Image.Image, max_side: int) -> tuple[Image.Image, float, float]:
    """``image`` shrunk (bilinear, aspect kept) so that its longest side is at most ``max_side`` (0: never shrunk),
    with the factors ``(sx, sy)`` that map the shrunk frame's coordinates back to the image's."""
    size = shrunk_size(image.size, max_side)
    if size == image.size:
        return image, 1.0, 1.0
    small = image.resize(size, Image.Resampling.BILINEAR)
    return small, image.width / small.width, image.height / small.height


class Detector(ABC):
    """A face detector: ``detect(image) -> list[Face]``, largest first, boxes and landmarks in ``image``'s pixels.

    Subclasses set ``name`` (their key in ``model.faces.detectors.DETECTORS``), build their network in
    ``_build()`` (called once, on first use, through ``network``) and find faces in ``_detect``. A runtime whose
    objects must not be used by two threads at once keeps one per thread in ``per_thread``. The network is left
    out when the detector is pickled and rebuilt where it is unpickled. ``detect`` may be called from several
    threads at once (the app's requests).
    """

    name: ClassVar[str]
    min_probability: float
    """Faces of a lower probability (score, confidence) are dropped."""
    max_side: int
    """Photos whose longest side exceeds this are shrunk to it for detection (0: never; a fixed-size network
    resizes on its own)."""
    threads: int
    """CPU threads of the network (0: the runtime's default)."""

    _network: Any = None
    _building: ClassVar[threading.Lock] = threading.Lock()

    @property
    def network(self) -> Any:
        """What ``_build`` returns, built once, on first use."""
        if self._network is None:
            with self._building:
                if self._network is None:
                    self._network = self._build()
        return self._network

    @property
    def per_thread(self) -> threading.local:
        """A namespace of this detector private to the calling thread (for runtime objects that are not
        thread-safe: an inference request, OpenCV's detector with its input size)."""
        local = vars(self).get("_local")
        if local is None:
            with self._building:
                local = vars(self).setdefault("_local", threading.local())
        return local

    @abstractmethod
    def _build(self) -> Any:
        """The network, built from its weights."""

    @abstractmethod
    def _detect(self, image: Any) -> list[Face]:
        """The faces of ``image`` (the photo shrunk to ``max_side``, as ``_shrink`` returns it), in its pixels, at
        least ``min_probability`` (or lower: ``detect`` filters them again)."""

    def _shrink(self, image: Image.Image) -> tuple[Any, float, float]:
        """The photo as ``_detect`` takes it, its longest side at most ``max_side``, and the factors that map its
        coordinates back (by default: a ``PIL.Image``, shrunk bilinearly)."""
        return shrunk(image, self.max_side)

    def detect(self, image: Image.Image) -> list[Face]:
        """The faces of an RGB ``image`` at least ``min_probability``, in its pixels (boxes clipped to it), sorted by
        area, largest first."""
        if image.mode != "RGB":
            image = image.convert("RGB")
        small, sx, sy = self._shrink(image)
        faces = self._detect(small)
        if (sx, sy) != (1.0, 1.0):
            faces = [face.scaled(sx, sy) for face in faces]
        faces = self._refine(image, [face for face in faces if face.probability >= self.min_probability])
        return largest_first([face.clipped(image.width, image.height) for face in faces])

    def _refine(self, image: Image.Image, faces: list[Face]) -> list[Face]:
        """The faces kept, changed as the detector sees fit with the full-resolution ``image`` (by default: as
        they are)."""
        return faces

    def options(self) -> dict[str, Any]:
        """The constructor's arguments of this detector (``build_detector(name, **options)`` makes it again)."""
        return {key: value for key, value in vars(self).items() if not key.startswith("_")}

    def __repr__(self) -> str:
        options = ", ".join(f"{key}={value!r}" for key, value in self.options().items())
        return f"{type(self).__name__}({options})"

    def __getstate__(self) -> dict:
        return self.options()

    def __setstate__(self, state: dict) -> None:
        vars(self).update(state)


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
