"""The square face a look-alike card shows: around the stored box, inside the original image, upright."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from index.metadata import FaceBox
from index.thumbnails import SIZE, face_square, face_thumbnail, face_thumbnail_jpeg


def _gradient(width: int, height: int) -> Image.Image:
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([40 + 200 * x / width, 40 + 200 * y / height, 120 + 60 * np.sin(x / 9.0) * np.cos(y / 7.0)], -1)
    return Image.fromarray(pixels.astype(np.uint8))


@pytest.mark.parametrize(
    ("box", "size", "expected"),
    [
        ((100, 100, 200, 240), (400, 400), (150 - 98, 170 - 98, 196)),  # 1.4 x the longer side, centred on the box
        ((0, 0, 60, 60), (400, 300), (0, 0, 84)),  # at the top-left corner: shifted inside
        ((350, 250, 400, 300), (400, 300), (330, 230, 70)),  # at the bottom-right corner
        ((-50, -40, 500, 420), (400, 300), (75, 0, 300)),  # larger than the image: its shorter side
        (None, (250, 250), (50, 50, 150)),  # a face frame: the central 150x150
        (None, (400, 300), (110, 60, 180)),
    ],
)
def test_the_square_is_around_the_face_and_inside_the_image(box, size, expected) -> None:
    face = None if box is None else FaceBox.of(box, size)
    left, top, side = face_square(face, *size)
    assert (left, top, side) == pytest.approx(expected)
    assert 0 <= left and 0 <= top and left + side <= size[0] + 1e-9 and top + side <= size[1] + 1e-9


def test_a_box_found_on_another_size_of_the_image_is_scaled() -> None:
    face = FaceBox.of((100, 100, 200, 240), (400, 400))
    assert face_square(face, 200, 200) == pytest.approx(((150 - 98) / 2, (170 - 98) / 2, 98))


def test_the_thumbnail_is_a_crop_of_the_original(tmp_path: Path) -> None:
    photo = _gradient(400, 300)
    photo.save(tmp_path / "p.png")
    face = FaceBox.of((120, 80, 200, 180), (400, 300))
    left, top, side = face_square(face, 400, 300)
    expected = photo.resize((SIZE, SIZE), Image.Resampling.LANCZOS, box=(left, top, left + side, top + side))
    got = face_thumbnail(tmp_path / "p.png", face)
    assert got.size == (SIZE, SIZE) and got.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))


def test_an_exif_rotated_photo_is_cut_upright(tmp_path: Path) -> None:
    """The box is in the upright photo (as the build's decoder turns it); the file stores it on its side."""
    upright = _gradient(300, 400)
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # EXIF orientation 6 turns it back 90 degrees clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(tmp_path / "turned.jpg", quality=95, exif=exif)
    face = FaceBox.of((100, 150, 200, 260), (300, 400))
    left, top, side = face_square(face, 300, 400)
    expected = np.asarray(upright.resize((SIZE, SIZE), Image.Resampling.LANCZOS, box=(left, top, left + side, top + side)), float)
    got = np.asarray(face_thumbnail(tmp_path / "turned.jpg", face), float)
    assert np.abs(got - expected).mean() < 3


def test_a_large_jpeg_is_decoded_reduced_and_still_matches(tmp_path: Path) -> None:
    photo = _gradient(3000, 2000)
    photo.save(tmp_path / "big.jpg", quality=95)
    face = FaceBox.of((1400, 900, 1600, 1150), (3000, 2000))  # a 350-pixel square: decoded at half size
    left, top, side = face_square(face, 3000, 2000)
    expected = np.asarray(photo.resize((SIZE, SIZE), Image.Resampling.LANCZOS, box=(left, top, left + side, top + side)), float)
    got = np.asarray(face_thumbnail(tmp_path / "big.jpg", face), float)
    assert np.abs(got - expected).mean() < 3
    jpeg = face_thumbnail_jpeg(tmp_path / "big.jpg", face)
    assert Image.open(io.BytesIO(jpeg)).size == (SIZE, SIZE)

