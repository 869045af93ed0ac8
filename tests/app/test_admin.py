"""The admin API: the token, status, rebuilds (progress, one at a time, failures), adding and removing people."""

from __future__ import annotations

import io
import json
import shutil
import threading
import time
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.main import create_app
from app.services.gallery_admin import GalleryAdmin, person_name
from app.services.matching import MatchService
from app.services.rebuilds import RebuildService
from index.build import build_index
from model.faces.crop import template_face
from model.faces.detector import Face

AUTH = {"Authorization": "Bearer s3cret"}


def _jpeg(color=(120, 90, 80), size=(320, 240)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="JPEG")
    return buffer.getvalue()


def stub_locate(data: bytes) -> tuple[Image.Image, Face]:
    """The fake photos have no real faces: the whole photo, framed as LFW frames its subjects, stands for the face."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    return image, template_face(image)


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def admin_app(index_world, app_index: Path, app_settings, tmp_path: Path):
    """An app over a private copy of the fake index (rebuilds change it), with a stub crop for added photos."""
    root, _, _ = index_world
    index_dir = tmp_path / "index"
    shutil.copytree(app_index, index_dir)
    settings = app_settings.model_copy(update={"index_dir": index_dir, "data_dir": root})
    service = MatchService(index_dir)
    service._detector = object()  # reloads need no face detector in these tests
    service.load()
    assert service.ready
    app = create_app(settings, match_service=service)
    app.state.rebuilds = RebuildService(settings, service, locate=stub_locate, workers=1)
    return app


@pytest.fixture
def admin(admin_app):
    with TestClient(admin_app) as client:
        yield client
    admin_app.state.rebuilds.wait(30)


def _wait(client: TestClient, job: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    seen = set()
    while time.monotonic() < deadline:
        body = client.get(f"/admin/jobs/{job}", headers=AUTH).json()
        seen.add(body["state"])
        if body["state"] in ("succeeded", "failed"):
            body["seen"] = seen
            return body
        time.sleep(0.05)
    raise AssertionError(f"job {job} did not finish in {timeout} s")


def _version(client: TestClient) -> str:
    return client.get("/health").json()["index"]["version"]


def test_admin_is_off_without_a_token(admin_app) -> None:
    admin_app.state.settings = admin_app.state.settings.model_copy(update={"admin_token": None})
    with TestClient(admin_app) as client:
        response = client.get("/admin/status", headers=AUTH)
        assert response.status_code == 403
        assert "DOPPELGANGER_ADMIN_TOKEN" in response.json()["detail"]
        assert client.post("/admin/rebuild").status_code == 403
        page = client.get("/admin")
        assert page.status_code == 200 and "Admin is switched off" in page.text


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}, {"Authorization": "Basic s3cret"}])
def test_a_wrong_or_missing_token_is_401(admin: TestClient, headers: dict) -> None:
    for method, path in (("GET", "/admin/status"), ("POST", "/admin/rebuild"), ("GET", "/admin/jobs"), ("DELETE", "/admin/gallery/Ada_Lovelace")):
        response = admin.request(method, path, headers=headers)
        assert response.status_code == 401, (method, path)
        assert response.headers["www-authenticate"] == "Bearer"


def test_the_page_asks_for_the_token(admin: TestClient) -> None:
    page = admin.get("/admin")
    assert page.status_code == 200
    assert 'id="token-form"' in page.text and "admin.js" in page.text and "switched off" not in page.text


def test_status_describes_the_served_index(admin: TestClient) -> None:
    body = admin.get("/admin/status", headers=AUTH).json()
    assert body["status"] == "ok"
    index = body["index"]
    assert index["images"] == 72 and index["people"] == 12
    assert index["version"] == _version(admin) and len(index["model_hash"]) == 64
    assert index["factory"] and index["built_at"] and "embedded" in index["stats"]
    assert body["rebuild"] is None and body["added_people"] == {} and body["excluded_people"] == []


def test_a_rebuild_runs_in_the_background_and_swaps_the_new_index_in(admin: TestClient, admin_app) -> None:
    before = _version(admin)
    response = admin.post("/admin/rebuild", params={"full": "true"}, headers=AUTH)
    assert response.status_code == 202
    job = _wait(admin, response.json()["job"])
    assert job["state"] == "succeeded", job["message"]
    assert job["full"] and job["total"] == 72 and job["done"] == 72
    assert job["previous_version"] == before and job["version"] != before
    assert _version(admin) == job["version"]  # /health serves the new version
    assert job["stats"]["embedded"] == 72

    # An incremental rebuild of an unchanged gallery embeds nothing.
    again = _wait(admin, admin.post("/admin/rebuild", headers=AUTH).json()["job"])
    assert again["state"] == "succeeded" and again["stats"]["embedded"] == 0 and again["stats"]["kept"] == 72

    # The history is persisted: newest first, and readable by a fresh service (a restarted server).
    lines = (admin_app.state.settings.index_dir / "rebuilds.jsonl").read_text().splitlines()
    assert len(lines) >= 4
    fresh = RebuildService(admin_app.state.settings, admin_app.state.match_service)
    history = fresh.history()
    assert [j["id"] for j in history[:2]] == [again["id"], job["id"]]
    assert all(j["state"] == "succeeded" for j in history[:2])
    assert admin.get("/admin/jobs", headers=AUTH).json()["jobs"][0]["id"] == again["id"]
    assert admin.get("/admin/jobs/nope", headers=AUTH).status_code == 404


def test_one_rebuild_at_a_time(admin: TestClient, admin_app) -> None:
    release = threading.Event()

    def slow_build(*args, **kwargs):
        assert release.wait(30)
        return build_index(*args, **kwargs)

    admin_app.state.rebuilds.build = slow_build
    first = admin.post("/admin/rebuild", headers=AUTH)
    assert first.status_code == 202
    second = admin.post("/admin/rebuild", params={"full": "true"}, headers=AUTH)
    assert second.status_code == 409 and first.json()["job"] in second.json()["detail"]
    running = admin.get(f"/admin/jobs/{first.json()['job']}", headers=AUTH).json()
    assert running["state"] == "running"
    assert admin.get("/admin/status", headers=AUTH).json()["rebuild"]["id"] == running["id"]
    assert admin.get("/health").json()["status"] == "ok"  # still serving meanwhile
    release.set()
    assert _wait(admin, first.json()["job"])["state"] == "succeeded"
    assert admin.post("/admin/rebuild", headers=AUTH).status_code == 202


def test_a_failed_rebuild_keeps_the_old_index_serving_and_says_why(admin: TestClient, admin_app, tmp_path: Path) -> None:
    before = _version(admin)
    admin_app.state.match_service.run_dir = tmp_path / "no-such-run"
    job = _wait(admin, admin.post("/admin/rebuild", headers=AUTH).json()["job"])
    admin_app.state.match_service.run_dir = None
    assert job["state"] == "failed"
    assert "no trained model" in job["message"] and "previous index keeps serving" in job["message"]
    assert _version(admin) == before
    assert admin.post("/match", files={"file": ("x.jpg", _jpeg(), "image/jpeg")}, params={"detect": "false"}).status_code == 200

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    admin_app.state.rebuilds.build = broken
    job = _wait(admin, admin.post("/admin/rebuild", headers=AUTH).json()["job"])
    assert job["state"] == "failed" and "disk on fire" in job["message"]
    assert _version(admin) == before


def test_adding_photos_with_a_name_stores_them_and_rebuilds(admin: TestClient, admin_app) -> None:
    files = [("files", (f"p{i}.jpg", _jpeg((40 * i, 90, 200 - 30 * i)), "image/jpeg")) for i in range(3)]
    files.append(("files", ("notes.txt", b"not an image", "text/plain")))
    response = admin.post("/admin/gallery", data={"name": "ada  lovelace-king"}, files=files, headers=AUTH)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["added"] == {"Ada_Lovelace-king": ["Ada_Lovelace-king_0001.jpg", "Ada_Lovelace-king_0002.jpg", "Ada_Lovelace-king_0003.jpg"]}
    assert "notes.txt" in body["skipped"]
    folder = admin_app.state.settings.gallery_added_dir / "Ada_Lovelace-king"
    assert sorted(p.name for p in folder.iterdir()) == body["added"]["Ada_Lovelace-king"]
    job = _wait(admin, body["job"])
    assert job["state"] == "succeeded", job["message"]
    assert job["stats"]["embedded"] == 3
    health = admin.get("/health").json()
    assert health["index"]["images"] == 75 and health["index"]["people"] == 13
    people = dict(admin.get("/admin/people", headers=AUTH).json()["people"])
    assert people["Ada_Lovelace-king"] == 3
    status = admin.get("/admin/status", headers=AUTH).json()
    assert status["added_people"] == {"Ada_Lovelace-king": 3}
    assert [g["prefix"] for g in status["index"]["galleries"]] == ["", "added/"]


@pytest.mark.parametrize("name", ["", "../etc", "Ada/Lovelace", "Zoë"])
def test_a_bad_name_is_refused(admin: TestClient, name: str) -> None:
    response = admin.post("/admin/gallery", data={"name": name}, files=[("files", ("a.jpg", _jpeg(), "image/jpeg"))], headers=AUTH)
    assert response.status_code in (400, 422)


def test_person_names_become_lfw_style() -> None:
    assert person_name(" grace  hopper ") == "Grace_Hopper"
    assert person_name("George_W_Bush") == "George_W_Bush"
    assert person_name("jean-luc picard") == "Jean-luc_Picard"


def test_adding_a_zip(admin: TestClient, admin_app) -> None:
    archive = _zip({
        "Marie_Curie/one.jpg": _jpeg((200, 10, 10)),
        "Marie_Curie/two.png": _jpeg((10, 200, 10)),  # a JPEG named .png: decoded by content
        "Niels Bohr/a.jpg": _jpeg((10, 10, 200)),
        "Niels Bohr/readme.txt": b"hello",
        "__MACOSX/Marie_Curie/._one.jpg": b"junk",
        "loose.jpg": _jpeg(),
    })
    response = admin.post("/admin/gallery", files={"zip": ("people.zip", archive, "application/zip")}, headers=AUTH)
    assert response.status_code == 202, response.text
    body = response.json()
    assert {k: len(v) for k, v in body["added"].items()} == {"Marie_Curie": 2, "Niels_Bohr": 1}
    assert set(body["skipped"]) == {"Niels Bohr/readme.txt", "loose.jpg"}
    job = _wait(admin, body["job"])
    assert job["state"] == "succeeded", job["message"]
    assert admin.get("/health").json()["index"]["images"] == 75


def test_a_zip_with_path_traversal_is_refused(admin: TestClient, admin_app) -> None:
    for bad in ("../evil/a.jpg", "/abs/a.jpg", "Good/../../a.jpg"):
        archive = _zip({"Fine_Person/a.jpg": _jpeg(), bad: _jpeg()})
        response = admin.post("/admin/gallery", files={"zip": ("x.zip", archive, "application/zip")}, headers=AUTH)
        assert response.status_code == 400, bad
        assert "unsafe path" in response.json()["detail"]
    assert not admin_app.state.settings.gallery_added_dir.exists()


def test_a_zip_with_a_symlink_is_refused(admin: TestClient) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        link = zipfile.ZipInfo("Person/link.jpg")
        link.external_attr = (0o120777 << 16)
        archive.writestr(link, "/etc/passwd")
    response = admin.post("/admin/gallery", files={"zip": ("x.zip", buffer.getvalue(), "application/zip")}, headers=AUTH)
    assert response.status_code == 400 and "symbolic link" in response.json()["detail"]


def test_a_zip_bomb_is_refused(admin: TestClient, admin_app) -> None:
    settings = admin_app.state.settings
    admin_app.state.gallery_admin = GalleryAdmin(
        settings.gallery_added_dir, settings.index_dir, max_bytes=settings.max_upload_bytes,
        max_pixels=settings.max_upload_pixels, max_zip_files=10, max_zip_bytes=1_000_000,
    )
    bomb = _zip({"Bomb/a.jpg": bytes(5_000_000)})
    assert len(bomb) < 20_000
    response = admin.post("/admin/gallery", files={"zip": ("bomb.zip", bomb, "application/zip")}, headers=AUTH)
    assert response.status_code == 413 and "MiB" in response.json()["detail"]
    many = _zip({f"Many/{i}.jpg": b"x" for i in range(11)})
    response = admin.post("/admin/gallery", files={"zip": ("many.zip", many, "application/zip")}, headers=AUTH)
    assert response.status_code == 413 and "11 files" in response.json()["detail"]
    assert not settings.gallery_added_dir.exists()


def test_a_zip_that_is_not_a_zip_is_400(admin: TestClient) -> None:
    response = admin.post("/admin/gallery", files={"zip": ("x.zip", b"PK nonsense", "application/zip")}, headers=AUTH)
    assert response.status_code == 400


def test_removing_people(admin: TestClient, admin_app) -> None:
    settings = admin_app.state.settings
    added = admin.post("/admin/gallery", data={"name": "Temp Person"}, files=[("files", ("a.jpg", _jpeg(), "image/jpeg"))], headers=AUTH)
    assert _wait(admin, added.json()["job"])["state"] == "succeeded"
    assert admin.get("/health").json()["index"]["people"] == 13

    # An added person: the folder goes.
    response = admin.delete("/admin/gallery/Temp_Person", headers=AUTH)
    assert response.status_code == 202 and response.json()["removed"] == "deleted"
    assert not (settings.gallery_added_dir / "Temp_Person").exists()
    assert _wait(admin, response.json()["job"])["state"] == "succeeded"

    # An LFW person (read-only): excluded.
    response = admin.delete("/admin/gallery/Alan_Turing", headers=AUTH)
    assert response.status_code == 202 and response.json()["removed"] == "excluded"
    assert json.loads((settings.index_dir / "excluded_people.json").read_text()) == ["Alan_Turing"]
    job = _wait(admin, response.json()["job"])
    assert job["state"] == "succeeded", job["message"]
    people = dict(admin.get("/admin/people", headers=AUTH).json()["people"])
    assert "Alan_Turing" not in people and "Temp_Person" not in people and len(people) == 11
    assert admin.get("/health").json()["index"]["images"] == 66
    assert admin.get("/admin/status", headers=AUTH).json()["excluded_people"] == ["Alan_Turing"]

    assert admin.delete("/admin/gallery/Nobody_Here", headers=AUTH).status_code == 404
    assert admin.delete("/admin/gallery/Alan_Turing", headers=AUTH).status_code == 404  # gone from the index now


def test_gallery_changes_during_a_rebuild_queue_one_more(admin: TestClient, admin_app) -> None:
    release = threading.Event()

    def slow_build(*args, **kwargs):
        assert release.wait(30)
        return build_index(*args, **kwargs)

    admin_app.state.rebuilds.build = slow_build
    first = admin.post("/admin/rebuild", headers=AUTH).json()["job"]
    added = admin.post("/admin/gallery", data={"name": "Late Comer"}, files=[("files", ("a.jpg", _jpeg(), "image/jpeg"))], headers=AUTH)
    assert added.status_code == 202
    queued = added.json()["job"]
    assert queued != first and admin.get(f"/admin/jobs/{queued}", headers=AUTH).json()["state"] == "queued"
    release.set()
    assert _wait(admin, first)["state"] == "succeeded"
    assert _wait(admin, queued)["state"] == "succeeded"
    assert "Late_Comer" in dict(admin.get("/admin/people", headers=AUTH).json()["people"])


def test_a_rebuild_cut_short_by_a_restart_shows_as_interrupted(admin_app) -> None:
    settings = admin_app.state.settings
    line = {"id": "abc123", "full": False, "reason": "incremental rebuild", "state": "running", "created_at": "2026-01-01T00:00:00+00:00"}
    (settings.index_dir / "rebuilds.jsonl").write_text(json.dumps(line) + "\n" + '{"id": "cut sh')
    with TestClient(admin_app) as client:
        job = client.get("/admin/jobs/abc123", headers=AUTH).json()
        assert job["state"] == "failed" and "interrupted" in job["message"]
        assert [j["id"] for j in client.get("/admin/jobs", headers=AUTH).json()["jobs"]] == ["abc123"]


def test_the_admin_api_is_documented(admin: TestClient) -> None:
    paths = admin.get("/openapi.json").json()["paths"]
    assert {"/admin/status", "/admin/rebuild", "/admin/jobs", "/admin/jobs/{job_id}", "/admin/gallery", "/admin/gallery/{person}",
            "/dashboard/accuracy/data", "/dashboard/embedding/data"} <= set(paths)
    assert "/admin" not in paths  # the page is not part of the API
