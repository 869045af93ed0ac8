"""Every detector of ``model.faces.detectors`` returns faces the same way: one face with sane landmarks on a real
photo (where MTCNN puts them), the faces of a group photo, rotated faces, nothing on a blank image; built by name,
lazily, picklable, usable from several threads. Real photos and pretrained weights are skipped when absent."""

from __future__ import annotations

import pickle
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model.faces.detector import FaceDetector
from model.faces.detectors import DEFAULT_DETECTOR, DETECTORS, build_detector, check_detector, detector_class
from model.faces.detectors.base import Face, shrunk_bgr
from model.faces.detectors.mtcnn import MtcnnDetector
from model.faces.detectors.landmark_regressor import landmark_crop
from model.faces.photo_decode import load_image

GROUPS = Path(__file__).resolve().parents[3] / "bench" / "photos" / "groups"


def _eye_angle(face: Face) -> float:
    """The angle of the line from the left eye to the right one, in degrees (image y points down)."""
    dx, dy = face.landmarks[1] - face.landmarks[0]
    return float(np.degrees(np.arctan2(dy, dx)))


def test_the_registry_builds_each_detector_by_name_and_refuses_others() -> None:
    assert DETECTORS == ("yunet", "openvino", "mtcnn") and DEFAULT_DETECTOR == "yunet"
    for name in DETECTORS:
        detector = build_detector(name, min_probability=0.8)
        assert detector.name == name and type(detector) is detector_class(name)
        assert detector.min_probability == 0.8 and detector._network is None  # nothing loaded yet
    assert FaceDetector is MtcnnDetector
    with pytest.raises(ValueError, match="unknown face detector 'dlib': choose one of yunet, openvino, mtcnn"):
        check_detector("dlib")
    with pytest.raises(ValueError, match="unknown face detector"):
        build_detector("dlib")
    with pytest.raises(ValueError, match="unknown landmarks 'dlib': choose one of regressor, yunet"):
        build_detector("yunet", landmarks="dlib")


@pytest.mark.parametrize("name", DETECTORS)
def test_a_detector_pickles_without_its_network_and_keeps_its_options(name: str) -> None:
    detector = build_detector(name, min_probability=0.75, threads=1)
    copy = pickle.loads(pickle.dumps(detector))
    assert type(copy) is type(detector) and copy.options() == detector.options() and copy._network is None
    assert repr(copy).startswith(type(detector).__name__ + "(") and "min_probability=0.75" in repr(copy)


@pytest.mark.parametrize("name", DETECTORS)
@pytest.mark.parametrize("photo", ["astronaut.png", "biden.jpg"])
def test_one_face_with_its_landmarks_where_mtcnn_puts_them(real_detector, photos_dir: Path, name: str, photo: str) -> None:
    image = load_image(photos_dir / photo)
    detector = real_detector(name, threads=1)
    faces = detector.detect(image)
    assert len(faces) == 1
    (face,) = faces
    x0, y0, x1, y1 = face.box
    assert 0 <= x0 < x1 <= image.width and 0 <= y0 < y1 <= image.height
    assert detector.min_probability <= face.probability <= 1
    assert face.landmarks.shape == (5, 2) and face.landmarks.dtype == np.float64
    assert np.all((face.landmarks >= (x0, y0)) & (face.landmarks <= (x1, y1)))
    eye_left, eye_right, nose, mouth_left, mouth_right = face.landmarks
    assert eye_left[0] < eye_right[0] and mouth_left[0] < mouth_right[0]
    assert max(eye_left[1], eye_right[1]) < nose[1] < min(mouth_left[1], mouth_right[1])
    (reference,) = real_detector("mtcnn", threads=1).detect(image)
    eyes = np.linalg.norm(reference.landmarks[1] - reference.landmarks[0])
    assert np.linalg.norm(face.landmarks - reference.landmarks, axis=1).max() < 0.2 * eyes
    if name == "yunet":  # its own (quantised) landmarks are coarser: up to about a fifth of the eye distance off
        (own,) = real_detector("yunet", threads=1, landmarks="yunet").detect(image)
        assert np.linalg.norm(own.landmarks - reference.landmarks, axis=1).max() < 0.25 * eyes
    assert pickle.loads(pickle.dumps(detector)).detect(image)[0].box == pytest.approx(face.box)


@pytest.mark.parametrize("name", DETECTORS)
def test_the_faces_of_a_group_photo_largest_first(real_detector, name: str) -> None:
    image = load_image(GROUPS / "sample4.jpg")  # 4 faces, and a phone in a hand that is not one
    faces = real_detector(name, threads=1).detect(image)
    assert len(faces) == 4
    assert [f.area for f in faces] == sorted((f.area for f in faces), reverse=True)


def test_a_group_photo_with_faces_looking_down_and_in_profile(real_detector) -> None:
    # sample2: one face in profile, two looking down, a phone on the sofa; MTCNN's photo settings miss two of them
    assert len(real_detector("yunet", threads=1).detect(load_image(GROUPS / "sample2.jpg"))) == 3


@pytest.mark.parametrize("degrees", [30, -30])
def test_a_face_turned_30_degrees_is_found_and_its_landmarks_turn_with_it(real_detector, photos_dir: Path, degrees: int) -> None:
    turned = load_image(photos_dir / "astronaut.png").rotate(degrees, resample=Image.Resampling.BILINEAR, expand=True)
    for name in DETECTORS:
        (face,) = real_detector(name, threads=1).detect(turned)
        assert _eye_angle(face) == pytest.approx(-degrees, abs=10), name  # counter-clockwise: the right eye rises
    # YuNet's own landmarks barely turn with the face: the regressor's replace them by default.
    (own,) = real_detector("yunet", threads=1, landmarks="yunet").detect(turned)
    assert abs(_eye_angle(own)) < abs(degrees) / 2


@pytest.mark.parametrize("name", DETECTORS)
@pytest.mark.parametrize("size", [(300, 200), (1, 1), (15, 300), (3000, 2)])
def test_no_face_in_a_blank_image(real_detector, name: str, size: tuple[int, int]) -> None:
    assert real_detector(name, threads=1).detect(Image.new("RGB", size, (240, 240, 240))) == []


@pytest.mark.parametrize("name", ["yunet", "openvino"])
def test_one_detector_serves_several_threads_at_once(real_detector, photos_dir: Path, name: str) -> None:
    detector = real_detector(name, threads=1)
    images = [load_image(photos_dir / n) for n in ("astronaut.png", "obama.jpg", "biden.jpg")] * 4
    alone = [[f.box for f in detector.detect(image)] for image in images]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda image: [f.box for f in detector.detect(image)], images))
    assert together == alone


def test_a_large_photo_is_shrunk_and_its_faces_mapped_back(real_detector, photos_dir: Path) -> None:
    image = load_image(photos_dir / "astronaut.png")
    detector = real_detector("yunet", threads=1)
    (small,) = detector.detect(image)
    (large,) = detector.detect(image.resize((2048, 2048), Image.Resampling.BICUBIC))
    np.testing.assert_allclose(np.asarray(large.box) / 4, small.box, atol=6)
    np.testing.assert_allclose(large.landmarks / 4, small.landmarks, atol=6)


def test_shrinking_keeps_the_aspect_and_returns_the_way_back() -> None:
    image = Image.new("RGB", (1000, 500), (10, 20, 30))
    bgr, sx, sy = shrunk_bgr(image, 320)
    assert bgr.shape == (160, 320, 3) and bgr.flags["C_CONTIGUOUS"] and tuple(bgr[0, 0]) == (30, 20, 10)
    assert (sx, sy) == (1000 / 320, 500 / 160)
    same, sx, sy = shrunk_bgr(image, 0)
    assert same.shape == (500, 1000, 3) and (sx, sy) == (1.0, 1.0)


def test_the_landmark_crop_is_open_model_zoo_s() -> None:
    # A 100x200 box enlarged 1.15 times about its centre (150, 200): 115x230, corners truncated to pixels.
    assert landmark_crop((100.0, 100.0, 200.0, 300.0), 1000, 1000) == (92, 85, 207, 315)
    assert landmark_crop((-10.0, 900.0, 90.0, 1100.0), 1000, 1000) == (0, 885, 97, 1000)  # clipped to the photo
