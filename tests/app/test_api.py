from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.main import create_app
from app.services.matching import MatchService
from index.storage import GalleryIndex


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
    assert set(first) == {"person", "image_id", "image_url", "face_url", "similarity", "distance", "same_person"}
    assert first["image_url"] == f"/gallery/{first['image_id']}/image"
    assert first["face_url"] == f"/gallery/{first['image_id']}/face"
    image = client.get(first["image_url"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    face = client.get(first["face_url"])
    assert face.status_code == 200 and face.headers["content-type"] == "image/jpeg"
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
    for unknown in ("999999", "abc", "-1", "1" * 30):
        response = client.get(f"/gallery/{unknown}/face")
        assert response.status_code == 404, unknown
        assert "no gallery image has id" in response.json()["detail"] and "/match" in response.json()["detail"]


def _decoded(response) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"), dtype=np.float64)


def _blocks(pixels: np.ndarray, block: int = 8) -> np.ndarray:
    """Means of ``block`` x ``block`` squares: what JPEG keeps of a noisy image."""
    h, w, c = pixels.shape
    return np.asarray(pixels, dtype=np.float64).reshape(h // block, block, w // block, block, c).mean(axis=(1, 3))


def test_a_face_frame_card_is_the_square_centre_of_the_original_frame(client: TestClient) -> None:
    """LFW-style frames have no face box: the card is their central 150x150 pixels, at 160x160."""
    match = client.post("/match", files={"file": ("me.jpg", _jpeg(), "image/jpeg")}, params={"k": 1}).json()["faces"][0]["matches"][0]
    card = client.get(match["face_url"])
    assert card.status_code == 200 and card.headers["cache-control"].startswith("public")
    served = _decoded(card)
    assert served.shape == (160, 160, 3)
    index = GalleryIndex.load(client.app.state.settings.index_dir)
    try:
        record = index.metadata.get([match["image_id"]])[match["image_id"]]
        assert record.face is None
        with Image.open(index.image_file(record.path)) as frame:
            expected = np.asarray(frame.convert("RGB").resize((160, 160), Image.Resampling.LANCZOS, box=(50, 50, 200, 200)), dtype=np.float64)
    finally:
        index.close()
    assert np.abs(_blocks(served) - _blocks(expected)).mean() < 2  # the same pixels, but for the JPEG's rounding


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


def _turned_face(size: int, degrees: float):
    """LFW's template face in a ``size`` x ``size`` photo, turned ``degrees`` about the photo's centre, with a
    detector-like box around its landmarks."""
    from model.faces.crop import template_face
    from model.faces.detector import Face

    upright = template_face(Image.new("RGB", (size, size))).landmarks
    angle = np.deg2rad(degrees)
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    landmarks = (upright - size / 2) @ turn.T + size / 2
    (lx0, ly0), (lx1, ly1) = landmarks.min(axis=0), landmarks.max(axis=0)
    box = (lx0 - 15.0, ly0 - 30.0, lx1 + 15.0, ly1 + 20.0)
    return Face(box, 0.99, landmarks)


def test_a_whole_photo_card_is_a_square_of_the_original_around_the_face_without_black_corners(
    app_settings, index_world, stub_detector, tmp_path: Path
) -> None:
    """A turned face: its aligned model input has black corners, its card is cut from the photo around the
    detector's box the build stored, square, with none."""
    from index.build import GallerySource, build_index
    from index.matcher import Matcher
    from model.faces.alignment import align_face, lfw_template

    root, _, run = index_world
    size = 240
    y, x = np.mgrid[0:size, 0:size]
    photo = np.stack([60 + 0.8 * x, 60 + 0.8 * y, np.full_like(x, 150)], axis=-1).astype(np.uint8)  # no dark pixel
    gallery = tmp_path / "photos"
    for person in ("Turned_Head", "Other_Person"):
        (gallery / person).mkdir(parents=True)
        Image.fromarray(photo).save(gallery / person / "photo.png")
    face = _turned_face(size, 30)

    def locate(data: bytes):
        return Image.open(io.BytesIO(data)).convert("RGB"), face

    aligned = np.asarray(align_face(Image.fromarray(photo), face, lfw_template()))
    assert (aligned[:4, :4] == 0).all() and (aligned[-4:, -4:] == 0).all()  # what the card must not show

    out = tmp_path / "index"
    build_index(run.path, [GallerySource(gallery, "photos")], out, root / "lfw", locate=locate, workers=1, progress=False)
    index = GalleryIndex.load(out)
    try:
        record = next(r for r in index.metadata.records() if r.person == "Turned_Head")
    finally:
        index.close()
    assert record.face is not None and (record.face.width, record.face.height) == (size, size)
    assert np.allclose((record.face.x0, record.face.y0, record.face.x1, record.face.y1), face.box)

    app_settings.index_dir = out
    service = MatchService(out)
    service.use(Matcher.load(out, detector=stub_detector))
    with TestClient(create_app(app_settings, match_service=service)) as client:
        card = client.get(f"/gallery/{record.id}/face")
    assert card.status_code == 200 and card.headers["content-type"] == "image/jpeg"
    served = _decoded(card)
    assert served.shape == (160, 160, 3)
    for corner in (served[:8, :8], served[:8, -8:], served[-8:, :8], served[-8:, -8:]):
        assert corner.mean() > 50  # no black corner
    # The square around the box, 1.4 times its longer side, shifted inside the photo: a crop of the original.
    x0, y0, x1, y1 = face.box
    side = min(1.4 * max(x1 - x0, y1 - y0), size)
    left = min(max((x0 + x1) / 2 - side / 2, 0), size - side)
    top = min(max((y0 + y1) / 2 - side / 2, 0), size - side)
    expected = Image.fromarray(photo).resize((160, 160), Image.Resampling.LANCZOS, box=(left, top, left + side, top + side))
    assert np.abs(served - np.asarray(expected, dtype=np.float64)).mean() < 2
