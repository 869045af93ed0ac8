"""A corpus of hostile and broken uploads sent to POST /match: every answer is a 2xx, or a 4xx whose message says
what was wrong; never a 5xx; and the server stays healthy after all of them. Run with the stub detector (fast) and
with each real detector (MTCNN's pyramid, YuNet's padding and the SSD's resize must survive 1-pixel and odd images
too)."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.main import create_app
from app.services.matching import MatchService
from index.matcher import Matcher
from model.faces.detectors import DETECTORS


def _encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def _photo(size=(320, 240)) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(60, 200, size=(size[1], size[0], 3), dtype=np.uint8))


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (one short IDAT): a bomb by its header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def _bomb() -> bytes:
    """A real decompression bomb: 5,000 x 5,000 black pixels (25 MP, over the 4 MP limit) in a few kB."""
    return _encode(Image.new("1", (5000, 5000)), "PNG", optimize=True)


def _exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    return _encode(_photo(), "JPEG", exif=exif.tobytes())


def _animated_gif() -> bytes:
    frames = [Image.new("RGB", (64, 64), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    return _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("me.jpg", _encode(_photo(), "JPEG"))
    return buffer.getvalue()


def corpus() -> dict[str, tuple[str, bytes, str]]:
    """name -> (file name, bytes, content type) of each hostile or awkward upload."""
    jpeg = _encode(_photo(), "JPEG")
    return {
        "empty": ("empty.jpg", b"", "image/jpeg"),
        "truncated-jpeg": ("cut.jpg", jpeg[: len(jpeg) // 2], "image/jpeg"),
        "jpeg-header-only": ("head.jpg", jpeg[:200], "image/jpeg"),
        "wrong-extension-png-as-jpg": ("photo.jpg", _encode(_photo(), "PNG"), "image/jpeg"),
        "text-renamed-jpg": ("notes.jpg", b"Dear diary, this is not a photo.\n" * 20, "image/jpeg"),
        "decompression-bomb": ("bomb.png", _bomb(), "image/png"),
        "huge-dimensions-in-header": ("huge.png", _png_claiming(50_000, 50_000), "image/png"),
        "one-pixel": ("dot.png", _encode(Image.new("RGB", (1, 1), (200, 150, 120)), "PNG"), "image/png"),
        "one-by-thousand": ("line.png", _encode(Image.new("RGB", (1000, 1), (200, 150, 120)), "PNG"), "image/png"),
        "animated-gif": ("anim.gif", _animated_gif(), "image/gif"),
        "cmyk-jpeg": ("cmyk.jpg", _encode(_photo().convert("CMYK"), "JPEG"), "image/jpeg"),
        "16-bit-png": ("deep.png", _encode(Image.fromarray(np.full((120, 160), 40000, np.uint16)), "PNG"), "image/png"),
        "exif-rotated": ("rotated.jpg", _exif_rotated(), "image/jpeg"),
        "rgba-webp": ("alpha.webp", _encode(_photo().convert("RGBA"), "WEBP"), "image/webp"),
        "heic": ("IMG_0001.HEIC", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 200, "image/heic"),
        "zip": ("photos.zip", _zip(), "application/zip"),
        "bmp": ("old.bmp", _encode(_photo((100, 80)), "BMP"), "image/bmp"),
        "svg-with-script": ("x.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "image/svg+xml"),
        "random-bytes": ("noise.jpg", np.random.default_rng(1).bytes(4096), "image/jpeg"),
        "jpeg-magic-then-garbage": ("magic.jpg", b"\xff\xd8\xff\xe0" + np.random.default_rng(2).bytes(3000), "image/jpeg"),
        "null-bytes-name": ("a\x00b.jpg", jpeg, "image/jpeg"),
    }


EXPECTED = {
    "empty": 400, "truncated-jpeg": 400, "jpeg-header-only": 400, "text-renamed-jpg": 415,
    "decompression-bomb": 413, "huge-dimensions-in-header": 413, "animated-gif": 415, "heic": 415, "zip": 415,
    "bmp": 415, "svg-with-script": 415, "random-bytes": 415,
}
"""The files that must be refused, and with which status; the others are photos (2xx, or 422 without a face)."""


def _check(client: TestClient, name: str, upload: tuple[str, bytes, str]) -> None:
    response = client.post("/match", files={"file": upload})
    assert response.status_code < 500, (name, response.status_code, response.text[:300])
    if name in EXPECTED:
        assert response.status_code == EXPECTED[name], (name, response.status_code, response.text[:300])
    if response.status_code >= 400:
        detail = response.json()["detail"]
        assert isinstance(detail, str) and len(detail) > 20, (name, detail)
        assert "Traceback" not in detail
    else:
        assert response.json()["faces"], name


@pytest.mark.parametrize("name", list(corpus()))
def test_every_bad_upload_gets_a_clear_answer(client: TestClient, name: str) -> None:
    _check(client, name, corpus()[name])


def test_refusals_say_what_was_wrong(client: TestClient) -> None:
    files = corpus()
    heic = client.post("/match", files={"file": files["heic"]}).json()["detail"]
    assert "HEIC" in heic and "JPEG" in heic
    assert "ZIP" in client.post("/match", files={"file": files["zip"]}).json()["detail"]
    assert "megapixels" in client.post("/match", files={"file": files["huge-dimensions-in-header"]}).json()["detail"]
    assert "truncated or corrupt" in client.post("/match", files={"file": files["truncated-jpeg"]}).json()["detail"]


@pytest.mark.parametrize("detector", DETECTORS)
def test_each_real_detector_survives_the_corpus_and_the_server_stays_healthy(
    app_settings, app_index: Path, real_detector, detector: str,
) -> None:
    service = MatchService(app_index)
    service.use(Matcher.load(app_index, detector=real_detector(detector), max_bytes=app_settings.max_upload_bytes,
                             max_pixels=app_settings.max_upload_pixels))
    with TestClient(create_app(app_settings, match_service=service)) as client:
        for name, upload in corpus().items():
            _check(client, name, upload)
        health = client.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        # A photo without a face: each detector finds none, and the answer says so.
        blank = ("wall.jpg", _encode(Image.new("RGB", (640, 480), (200, 190, 180)), "JPEG"), "image/jpeg")
        response = client.post("/match", files={"file": blank})
        assert response.status_code == 422 and "no face found in the photo" in response.json()["detail"]
