"""The admin page in a real browser: it refuses without the right token, then runs a rebuild to completion with
its progress, and adds a person."""

from __future__ import annotations

import io
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from app.main import create_app
from app.services.matching import MatchService
from app.services.rebuilds import RebuildService
from app.settings import AppSettings
from index.build import build_index
from model.faces.crop import template_face
from model.faces.detector import Face

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="browser test skipped: Playwright for Python is missing (`make setup` installs it)"
)
expect = sync_api.expect


def stub_locate(data: bytes) -> tuple[Image.Image, Face]:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    return image, template_face(image)


def slow_build(*args, **kwargs):
    """The real build, a little slower, so that the page shows it running."""
    progress = kwargs.pop("on_progress")

    def on_progress(done: int, total: int) -> None:
        progress(done, total)
        time.sleep(1.0)

    time.sleep(1.0)
    return build_index(*args, on_progress=on_progress, **kwargs)


@pytest.fixture(scope="module")
def admin_url(index_world, app_index: Path, serve_app, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root, _, _ = index_world
    tmp = tmp_path_factory.mktemp("admin")
    index_dir = tmp / "index"
    shutil.copytree(app_index, index_dir)
    settings = AppSettings(index_dir=index_dir, data_dir=root, admin_token="s3cret", runs_dir=tmp / "runs", gallery_added_dir=tmp / "added")
    service = MatchService(index_dir)
    service._detector = object()  # rebuilds reload the index; nothing here detects faces
    service.load()
    app = create_app(settings, match_service=service)
    app.state.rebuilds = RebuildService(settings, service, locate=stub_locate, workers=1, build=slow_build)
    yield from serve_app(app)
    app.state.rebuilds.wait(30)


def _jpeg(color) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (300, 300), color).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_the_admin_page_refuses_without_the_token_then_rebuilds_with_progress(admin_url: str, tab) -> None:
    page = tab.page
    page.goto(admin_url + "/admin")
    expect(page.locator("#token-form")).to_be_visible()
    expect(page.locator("#admin-panel")).to_be_hidden()

    page.fill("#token-input", "wrong")
    page.click("#token-submit")
    expect(page.locator("#token-error")).to_contain_text("wrong or missing admin token")
    expect(page.locator("#admin-panel")).to_be_hidden()

    page.fill("#token-input", "s3cret")
    page.click("#token-submit")
    expect(page.locator("#admin-panel")).to_be_visible()
    expect(page.locator("#status-stats")).to_contain_text("72")
    expect(page.locator("#status-facts")).to_contain_text("Model hash")
    version = page.locator("#status-facts dd").first.inner_text()

    page.click("#rebuild-full")
    expect(page.locator("#job-state")).to_have_text("running")
    expect(page.locator("#rebuild-incremental")).to_be_disabled()
    # The first count comes once the build's checks pass and its first batch is embedded (seconds on a busy machine).
    expect(page.locator("#job-count")).to_contain_text("/ 72 images embedded", timeout=60_000)
    expect(page.locator("#job-state")).to_have_text("succeeded", timeout=60_000)
    expect(page.locator("#job-bar")).to_have_attribute("style", "width: 100%;")
    expect(page.locator("#job-message")).to_contain_text("is serving")
    expect(page.locator("#history tbody tr").first).to_contain_text("succeeded")
    expect(page.locator("#status-facts dd").first).not_to_have_text(version)

    # The token survives a reload (sessionStorage), and adding a person rebuilds.
    page.reload()
    expect(page.locator("#admin-panel")).to_be_visible()
    page.fill("#add-name", "Ada Byron")
    page.set_input_files("#add-files", [{"name": "a.jpg", "mimeType": "image/jpeg", "buffer": _jpeg((200, 40, 40))},
                                        {"name": "b.jpg", "mimeType": "image/jpeg", "buffer": _jpeg((40, 200, 40))}])
    page.click("#add-photos-form button[type=submit]")
    expect(page.locator("#add-result")).to_contain_text("Added 2 photos: Ada_Byron (2)")
    expect(page.locator("#job-state")).to_have_text("succeeded", timeout=60_000)
    expect(page.locator("#status-facts")).to_contain_text("Ada_Byron (2)")
    expect(page.locator("#status-stats")).to_contain_text("74")

    page.click("#sign-out")
    expect(page.locator("#token-form")).to_be_visible()
    # The one error logged is the browser's note of the refused wrong token.
    assert [e for e in tab.errors if "status of 401" not in e] == []
    assert len(tab.errors) == 1
