"""``lfw_frame``: a whole photo becomes a 250x250 frame with its face on the template; no face, no frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model.faces.alignment import lfw_template
from model.faces.lfw_template import FRAME_CENTRE
from model.faces.photo_decode import load_image
from model.faces.detector import Face, FaceDetector, NoFaceError, nearest_face
from model.faces.frame import lfw_frame


def test_photo_becomes_a_frame_with_the_face_on_the_template(detector: FaceDetector, photos_dir: Path) -> None:
    frame = lfw_frame(load_image(photos_dir / "obama.jpg"), detector)
    assert frame.size == (250, 250) and frame.mode == "RGB"
    face = nearest_face(detector.detect(frame), FRAME_CENTRE)
    assert np.linalg.norm(face.landmarks - lfw_template().landmarks, axis=1).mean() < 4.0


def test_no_face_no_frame(detector: FaceDetector) -> None:
    with pytest.raises(NoFaceError):
        lfw_frame(Image.new("RGB", (320, 240), (30, 30, 30)), detector)


def test_assume_aligned_only_resizes() -> None:
    class NoDetector:
        def detect(self, image: Image.Image) -> list[Face]:
            raise AssertionError("an aligned image needs no detection")

    crop = Image.new("RGB", (500, 500), (10, 200, 30))
    frame = lfw_frame(crop, NoDetector(), assume_aligned=True)  # type: ignore[arg-type]
    assert frame.size == (250, 250) and frame.getpixel((125, 125)) == (10, 200, 30)
