"""Alignment: the Umeyama fit, the warp's pixel conventions on a synthetic face, the committed template, and
real LFW frames, which come back onto the template."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model.faces.alignment import Template, align_face, apply_transform, lfw_template, similarity_transform
from model.faces.lfw_template import FRAME_CENTRE
from model.faces.photo_decode import load_image
from model.faces.detector import Face, FaceDetector, nearest_face


def _similarity(scale: float, degrees: float, shift: tuple[float, float]) -> np.ndarray:
    c, s = scale * math.cos(math.radians(degrees)), scale * math.sin(math.radians(degrees))
    return np.array([[c, -s, shift[0]], [s, c, shift[1]]])


def _blobs(size: tuple[int, int], centres: np.ndarray, sigma: float) -> Image.Image:
    """Gaussian dots at ``centres`` (pixel-index coordinates, as MTCNN gives landmarks)."""
    ys, xs = np.mgrid[0 : size[1], 0 : size[0]]
    dots = sum(np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2)) for x, y in centres)
    return Image.fromarray(np.repeat((255 * np.clip(dots, 0, 1)).astype(np.uint8)[..., None], 3, axis=2))


def _centroid(frame: np.ndarray, near: np.ndarray, radius: int = 8) -> np.ndarray:
    x, y = np.round(near).astype(int)
    window = frame[y - radius : y + radius + 1, x - radius : x + radius + 1, 0].astype(np.float64)
    ys, xs = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return np.array([x + (xs * window).sum() / window.sum(), y + (ys * window).sum() / window.sum()])


def test_similarity_transform_recovers_a_known_one() -> None:
    points = np.random.default_rng(0).uniform(0, 100, size=(5, 2))
    truth = _similarity(1.7, -25.0, (12.0, -4.0))
    np.testing.assert_allclose(similarity_transform(points, apply_transform(truth, points)), truth, atol=1e-9)


def test_similarity_transform_never_reflects() -> None:
    points = np.random.default_rng(1).uniform(0, 100, size=(5, 2))
    matrix = similarity_transform(points, points * (-1, 1))
    assert np.linalg.det(matrix[:, :2]) > 0


@pytest.mark.parametrize(("scale", "degrees"), [(0.6, 10.0), (1.7, -20.0), (5.0, 12.0)], ids=["small", "large", "huge"])
def test_synthetic_face_lands_on_the_template(scale: float, degrees: float) -> None:
    template = lfw_template()
    placement = _similarity(scale, degrees, (60.0, 80.0))
    landmarks = apply_transform(placement, template.landmarks)
    photo = _blobs((int(300 * scale) + 200, int(300 * scale) + 200), landmarks, sigma=2.5 * scale)
    face = Face(box=(0.0, 0.0, 1.0, 1.0), probability=1.0, landmarks=landmarks)
    frame = np.asarray(align_face(photo, face, template))
    assert frame.shape == (250, 250, 3)
    found = np.array([_centroid(frame, point) for point in template.landmarks])
    np.testing.assert_allclose(found, template.landmarks, atol=1.0)


def test_committed_template_is_a_face() -> None:
    template = lfw_template()
    assert template.size == 250 and template.landmarks.shape == (5, 2)
    eye_left, eye_right, nose, mouth_left, mouth_right = template.landmarks
    assert eye_left[0] < nose[0] < eye_right[0] and mouth_left[0] < mouth_right[0]
    assert eye_left[1] < nose[1] < mouth_left[1]
    assert np.all(np.abs(template.landmarks.mean(axis=0) - 125) < 20)  # LFW faces are centred


def test_missing_template_says_how_to_make_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="faces calibrate"):
        Template.load(tmp_path / "none.json")


def test_lfw_frame_comes_back_onto_the_template(detector: FaceDetector, data_dir: Path) -> None:
    template = lfw_template()
    image = load_image(data_dir / "lfw" / "lfw-deepfunneled" / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg")
    aligned = align_face(image, nearest_face(detector.detect(image), FRAME_CENTRE), template)
    again = nearest_face(detector.detect(aligned), FRAME_CENTRE)
    assert np.linalg.norm(again.landmarks - template.landmarks, axis=1).mean() < 4.0
