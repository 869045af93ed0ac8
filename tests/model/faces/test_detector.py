"""``FaceDetector`` on real photos (counts, order, frame) and ``select_face``'s choices and errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model.faces.photo_decode import load_image
from model.faces.detector import Face, FaceDetector, NoFaceError, nearest_face, select_face

PHOTOS = {"biden.jpg": 1, "obama.jpg": 1, "astronaut.png": 1, "sample1.jpg": 3}


def _face(side: float) -> Face:
    return Face(box=(0.0, 0.0, side, side), probability=0.99, landmarks=np.zeros((5, 2)))


@pytest.mark.parametrize(("name", "count"), PHOTOS.items())
def test_faces_of_real_photos(detector: FaceDetector, photos_dir: Path, name: str, count: int) -> None:
    image = load_image(photos_dir / name)
    faces = detector.detect(image)
    assert len(faces) == count
    assert [f.area for f in faces] == sorted((f.area for f in faces), reverse=True)
    for face in faces:
        x0, y0, x1, y1 = face.box
        assert 0 <= x0 < x1 <= image.width and 0 <= y0 < y1 <= image.height
        assert face.probability >= detector.min_probability
        assert face.landmarks.shape == (5, 2)
        eye_left, eye_right, nose, mouth_left, mouth_right = face.landmarks
        assert eye_left[0] < eye_right[0] and mouth_left[0] < mouth_right[0]
        assert (eye_left[1] + eye_right[1]) / 2 < nose[1] < (mouth_left[1] + mouth_right[1]) / 2  # heads may tilt


def test_partial_face_is_found(detector: FaceDetector, photos_dir: Path) -> None:
    assert len(detector.detect(load_image(photos_dir / "obama_partial_face.jpg"))) >= 1


def test_large_photos_are_detected_shrunk_and_mapped_back(detector: FaceDetector, photos_dir: Path) -> None:
    image = load_image(photos_dir / "astronaut.png")
    (small,) = detector.detect(image)
    (large,) = detector.detect(image.resize((2048, 2048), Image.Resampling.BICUBIC))
    np.testing.assert_allclose(np.asarray(large.box) / 4, small.box, atol=4)
    np.testing.assert_allclose(large.landmarks / 4, small.landmarks, atol=3)


@pytest.mark.parametrize("size", [(300, 200), (1, 1), (15, 300), (3000, 2)])
def test_no_face_is_an_error(detector: FaceDetector, size: tuple[int, int]) -> None:
    faces = detector.detect(Image.new("RGB", size, (240, 240, 240)))
    assert faces == []
    with pytest.raises(NoFaceError, match="no face found"):
        select_face(faces)


def test_select_face_picks_the_largest_or_the_index() -> None:
    faces = [_face(50), _face(30)]
    assert select_face(faces) is faces[0] and select_face(faces, 1) is faces[1]
    with pytest.raises(ValueError, match="2 face"):
        select_face(faces, 2)
    with pytest.raises(ValueError, match="2 face"):
        select_face(faces, -1)


def test_face_to_dict_is_json() -> None:
    face = _face(10)
    assert face.area == 100
    assert json.loads(json.dumps(face.to_dict())) == {
        "box": [0.0, 0.0, 10.0, 10.0], "probability": 0.99, "landmarks": [[0.0, 0.0]] * 5,
    }


def test_nearest_face() -> None:
    left = Face(box=(0.0, 0.0, 10.0, 10.0), probability=0.99, landmarks=np.zeros((5, 2)))
    right = Face(box=(90.0, 0.0, 100.0, 10.0), probability=0.99, landmarks=np.zeros((5, 2)))
    assert nearest_face([left, right], (80.0, 5.0)) is right and nearest_face([], (0.0, 0.0)) is None
