"""One photo to the model's inputs: decode, detect, choose the face, crop. The matcher (``index.matcher``) and
whole-photo gallery builds (``index.build``) both go through ``photo_input``, so an upload and a gallery photo
become model inputs the same way.

``photo_input(photo, detector, crop)`` returns the decoded image, every face found (largest first), which face
is the query, and the crop of every face (or of the chosen one only). A photo sent as a face frame
(``detect=False``) skips detection: the whole image is its one face, cropped as a frame. Errors say what the
user can change: ``ImageDecodeError`` (``photo_decode``), ``NoFaceError``, or a ``ValueError`` for a face number
the photo does not have.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

from model.faces.detectors.base import Face, NoFaceError
from model.faces.photo_decode import MAX_BYTES, MAX_PIXELS, load_image


class FindsFaces(Protocol):
    """A face detector (``model.faces.detectors``), or anything else with its ``detect``."""

    def detect(self, image: Image.Image) -> list[Face]: ...


class MakesInputs(Protocol):
    """A model's crop (``model.faces.crop``): from a detected face, or from a whole face frame."""

    def from_face(self, image: Image.Image, face: Face) -> np.ndarray: ...

    def __call__(self, frame: Image.Image, detect: bool = True) -> np.ndarray: ...


@dataclass(frozen=True, eq=False)
class PhotoInput:
    """A decoded photo, its faces and the model inputs made from them."""

    image: Image.Image
    faces: list[Face]
    """Largest first; a face frame's one face is the whole image (probability 1, landmarks zero)."""
    query: int
    """The chosen face's number in ``faces``."""
    inputs: np.ndarray | None
    """uint8 (N, S, S, 3): one row per face of ``faces``, or only the chosen face's (``every_face=False``); None
    without a crop."""

    @property
    def face(self) -> Face:
        """The chosen face."""
        return self.faces[self.query]


def photo_input(
    photo: bytes | str | Path, detector: FindsFaces | None, crop: MakesInputs | None = None, face: int | None = None,
    every_face: bool = True, detect: bool = True, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS,
    on_stage: Callable[[str], None] | None = None,
) -> PhotoInput:
    """``photo`` (bytes or a path) decoded within ``max_bytes`` and ``max_pixels``, its faces found by ``detector``
    (``detect=False``: the photo is one face frame, no detector needed), face ``face`` chosen (default 0, the
    largest), and ``crop``'s input made for every face (``every_face``) or for the chosen one only.

    ``on_stage(name)`` is called after each stage, ``"decode"``, ``"detect"`` and ``"crop"`` (the matcher times
    them and stops past its deadline). Raises ``ImageDecodeError``, ``NoFaceError`` (no face) and ``ValueError``
    (no face ``face``)."""
    stage = on_stage or (lambda name: None)
    image = load_image(photo, max_pixels=max_pixels, max_bytes=max_bytes)
    stage("decode")
    if detect:
        if detector is None:
            raise ValueError("a photo needs a face detector (or detect=False for a face frame)")
        faces = detector.detect(image)
        if not faces:
            raise NoFaceError()
    else:
        faces = [Face((0.0, 0.0, float(image.width), float(image.height)), 1.0, np.zeros((5, 2)))]
    query = 0 if face is None else face
    if not 0 <= query < len(faces):
        raise ValueError(
            f"face {query} does not exist: the photo has {len(faces)} face(s), numbered 0 to {len(faces) - 1} by size"
        )
    stage("detect")
    inputs = None
    if crop is not None:
        if not detect:
            inputs = crop(image, detect=False)[None]
        else:
            chosen = faces if every_face else [faces[query]]
            inputs = np.stack([crop.from_face(image, f) for f in chosen])
    stage("crop")
    return PhotoInput(image, faces, query, inputs)
