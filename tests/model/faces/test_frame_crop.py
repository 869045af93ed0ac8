"""``FrameCrop``: a whole photo's face put into LFW's 250x250 frame, then its centre, the input of the networks
trained from ImageNet weights; a face frame is only resized."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model.faces.alignment import lfw_template
from model.faces.crop import FrameCrop
from model.faces.detector import FaceDetector, NoFaceError, nearest_face, select_face
from model.faces.lfw_template import FRAME_CENTRE
from model.faces.photo_decode import load_image
from model.transforms import Preprocess


def test_a_photo_face_lands_on_lfw_s_template(detector: FaceDetector, photos_dir: Path) -> None:
    whole_frame = FrameCrop(Preprocess(size=250))  # no centre box: the 250x250 frame itself
    image = load_image(photos_dir / "obama.jpg")
    frame = Image.fromarray(whole_frame.from_face(image, select_face(detector.detect(image))))
    assert frame.size == (250, 250)
    face = nearest_face(detector.detect(frame), FRAME_CENTRE)
    assert np.linalg.norm(face.landmarks - lfw_template().landmarks, axis=1).mean() < 4.0


def test_no_face_no_crop(detector: FaceDetector) -> None:
    with pytest.raises(NoFaceError):
        select_face(detector.detect(Image.new("RGB", (320, 240), (30, 30, 30))))


def test_a_face_frame_is_only_resized() -> None:
    crop = FrameCrop(Preprocess(size=64, box=(61, 61, 189, 189)))
    frame = Image.new("RGB", (500, 500), (10, 200, 30))
    pixels = crop(frame, detect=False)
    assert pixels.shape == (64, 64, 3) and tuple(pixels[32, 32]) == (10, 200, 30)
