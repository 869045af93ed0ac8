"""``photo_input``: decode, detect, choose, crop; with stand-ins for the detector and the crop."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from model.faces.detectors.base import Face, NoFaceError
from model.faces.photo_decode import ImageDecodeError, ImageTooLargeError
from model.faces.photo_input import photo_input


class TwoFaces:
    """Two faces, the larger first, or none in a black photo."""

    def detect(self, image: Image.Image) -> list[Face]:
        if image.getpixel((0, 0)) == (0, 0, 0):
            return []
        return [Face((10.0, 10.0, 60.0, 60.0), 0.99, np.full((5, 2), 30.0)), Face((0.0, 0.0, 5.0, 5.0), 0.9, np.full((5, 2), 2.0))]


class MarkingCrop:
    """An 8x8 input whose pixels hold the face's first landmark's x (or 255 for a whole frame)."""

    def from_face(self, image: Image.Image, face: Face) -> np.ndarray:
        return np.full((8, 8, 3), int(face.landmarks[0, 0]), dtype=np.uint8)

    def __call__(self, frame: Image.Image, detect: bool = True) -> np.ndarray:
        assert not detect
        return np.full((8, 8, 3), 255, dtype=np.uint8)


def _jpeg(colour=(120, 90, 80), size=(80, 60)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_every_face_gets_an_input_and_the_stages_are_reported_in_order() -> None:
    stages = []
    found = photo_input(_jpeg(), TwoFaces(), MarkingCrop(), on_stage=stages.append)
    assert stages == ["decode", "detect", "crop"]
    assert found.image.size == (80, 60) and len(found.faces) == 2 and found.query == 0 and found.face is found.faces[0]
    assert found.inputs.shape == (2, 8, 8, 3) and found.inputs.dtype == np.uint8
    assert [int(row[0, 0, 0]) for row in found.inputs] == [30, 2]


def test_only_the_chosen_face_and_the_choice_is_checked() -> None:
    found = photo_input(_jpeg(), TwoFaces(), MarkingCrop(), face=1, every_face=False)
    assert found.query == 1 and found.inputs.shape == (1, 8, 8, 3) and int(found.inputs[0, 0, 0, 0]) == 2
    with pytest.raises(ValueError, match=r"face 2 does not exist: the photo has 2 face\(s\), numbered 0 to 1 by size"):
        photo_input(_jpeg(), TwoFaces(), MarkingCrop(), face=2)
    with pytest.raises(ValueError, match="face -1 does not exist"):
        photo_input(_jpeg(), TwoFaces(), MarkingCrop(), face=-1)


def test_without_a_crop_there_are_faces_but_no_inputs() -> None:
    found = photo_input(_jpeg(), TwoFaces())
    assert found.inputs is None and len(found.faces) == 2


def test_a_face_frame_skips_detection() -> None:
    found = photo_input(_jpeg(), None, MarkingCrop(), detect=False)
    (face,) = found.faces
    assert face.box == (0.0, 0.0, 80.0, 60.0) and face.probability == 1.0
    assert found.inputs.shape == (1, 8, 8, 3) and int(found.inputs[0, 0, 0, 0]) == 255
    with pytest.raises(ValueError, match="has 1 face"):
        photo_input(_jpeg(), None, MarkingCrop(), face=1, detect=False)


def test_no_face_and_undecodable_photos_are_the_user_s_errors(tmp_path) -> None:
    with pytest.raises(NoFaceError, match="no face found in the photo"):
        photo_input(_jpeg(colour=(0, 0, 0)), TwoFaces(), MarkingCrop())
    with pytest.raises(ImageDecodeError, match="not a JPEG, PNG or WebP"):
        photo_input(b"not a photo at all", TwoFaces(), MarkingCrop())
    with pytest.raises(ImageTooLargeError, match="megapixels"):
        photo_input(_jpeg(size=(200, 200)), TwoFaces(), MarkingCrop(), max_pixels=10_000)
    path = tmp_path / "photo.jpg"
    path.write_bytes(_jpeg())
    assert len(photo_input(path, TwoFaces()).faces) == 2
