from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.main import create_app
from app.services.matching import MatchService


def _jpeg(color=(120, 90, 80), size=(320, 240)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_match_returns_every_face_with_matches_and_image_urls(client: TestClient) -> None:
    response = client.post("/match", files={"file": ("me.jpg", _jpeg(), "image/jpeg")}, params={"k": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["faces"]) == 2 and body["query_face"] == 0
    first = body["faces"][0]["matches"][0]
    assert set(first) == {"person", "image_id", "image_url", "similarity", "distance", "same_person"}
    assert first["image_url"] == f"/gallery/{first['image_id']}/image"
    image = client.get(first["image_url"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert set(body["timings_ms"]) == {"decode", "detect", "crop", "embed", "search", "total"}


def test_an_aligned_crop_skips_detection(client: TestClient, index_world) -> None:
    _, images, _ = index_world
    data = (images.root / images.paths[3]).read_bytes()
    body = client.post("/match", files={"file": ("crop.jpg", data, "image/jpeg")}, params={"detect": "false", "k": 1}).json()
    assert body["faces"][0]["matches"][0]["person"] == images.classes[images.labels[3]]
    assert body["faces"][0]["probability"] == 1.0


@pytest.mark.parametrize(
    ("files", "params", "status", "message"),
    [
        ({"file": ("x.jpg", b"garbage bytes", "image/jpeg")}, {}, 415, "not a JPEG, PNG or WebP"),
        ({"file": ("x.jpg", _jpeg()[:200], "image/jpeg")}, {}, 400, "truncated or corrupt"),
        ({"file": ("x.jpg", b"\xff" * 300_000, "image/jpeg")}, {}, 413, "larger than"),
        ({"file": ("x.jpg", _jpeg(size=(2500, 2000)), "image/jpeg")}, {}, 413, "megapixels"),
        ({"file": ("x.jpg", _jpeg(color=(0, 0, 0)), "image/jpeg")}, {}, 422, "no face found"),
        ({"file": ("x.jpg", _jpeg(), "image/jpeg")}, {"face": 5}, 422, "has 2 face"),
        ({"file": ("x.jpg", _jpeg(), "image/jpeg")}, {"k": 11}, 422, "at most 10"),
        ({"file": ("x.jpg", _jpeg(), "image/jpeg")}, {"k": 0}, 422, ""),
        ({}, {}, 422, ""),
    ],
    ids=["not-an-image", "truncated", "too-many-bytes", "too-many-pixels", "no-face", "face-out-of-range", "k-too-big", "k-zero", "no-file"],
)
def test_bad_requests_get_a_clear_4xx(client: TestClient, files, params, status: int, message: str) -> None:
    response = client.post("/match", files=files, params=params)
    assert response.status_code == status, response.text
    assert message in str(response.json()["detail"])


def test_unknown_gallery_image_is_404(client: TestClient) -> None:
    assert client.get("/gallery/999999/image").status_code == 404


def test_health_names_the_model_and_index(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["index"]["images"] == 72 and body["index"]["people"] == 12
    assert len(body["model"]["hash"]) == 64 and body["k"] == {"default": 5, "max": 10}


def test_without_an_index_match_is_503_and_health_says_why(app_settings, tmp_path: Path) -> None:
    app_settings.index_dir = tmp_path / "no-index"
    with TestClient(create_app(app_settings, match_service=MatchService(tmp_path / "no-index"))) as client:
        response = client.post("/match", files={"file": ("x.jpg", _jpeg(), "image/jpeg")})
        assert response.status_code == 503 and "doppelganger index build" in response.json()["detail"]
        health = client.get("/health").json()
        assert health["status"] == "not ready" and "no index" in health["reason"]


def test_openapi_documents_match_with_an_example(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "example" in spec["paths"]["/match"]["post"]["responses"]["200"]["content"]["application/json"]
    assert client.get("/docs").status_code == 200


def test_an_upload_is_never_spooled_to_disk(app_settings, app_index: Path, stub_detector, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 2.4 MB photo (Starlette would move anything over 1 MiB to a temporary file) stays in memory."""
    import tempfile

    from index.matcher import Matcher

    rolled: list[int] = []
    real = tempfile.SpooledTemporaryFile.rollover
    monkeypatch.setattr(tempfile.SpooledTemporaryFile, "rollover", lambda self: (rolled.append(1), real(self))[1])
    app_settings.max_upload_bytes = 4_000_000
    service = MatchService(app_index)
    service.use(Matcher.load(app_index, detector=stub_detector, max_bytes=4_000_000, max_pixels=4_000_000))
    noise = np.random.default_rng(0).integers(0, 256, size=(800, 1000, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG")
    assert 2_000_000 < len(buffer.getvalue()) < 4_000_000
    with TestClient(create_app(app_settings, match_service=service)) as client:
        response = client.post("/match", files={"file": ("big.png", buffer.getvalue(), "image/png")}, params={"k": 1})
        assert response.status_code == 200, response.text
        over = client.post("/match", files={"file": ("huge.png", b"\0" * 4_200_000, "image/png")})
        assert over.status_code == 413 and "larger than" in over.json()["detail"]
    assert not rolled


def test_a_match_request_without_a_length_is_411(client: TestClient) -> None:
    def chunks():
        yield b"--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n\r\n"
        yield _jpeg() + b"\r\n--x--\r\n"

    response = client.post("/match", content=chunks(), headers={"content-type": "multipart/form-data; boundary=x"})
    assert response.status_code == 411 and "Content-Length" in response.json()["detail"]
