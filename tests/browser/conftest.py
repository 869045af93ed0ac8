"""Browser tests: the app served by uvicorn in a thread, driven by Playwright through Debian's Chromium.

Never a downloaded browser: ``/usr/bin/chromium`` (``apt-get install chromium``, done by ``make setup``), and
Playwright for Python from the ``test`` extra. Without either, every test here is skipped and says why. The
webcam is Chromium's fake capture device playing an MJPEG file made from a real photo. A failing test leaves a
screenshot in ``test-artifacts/browser/`` (git-ignored).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageOps

from app.main import create_app
from app.services.matching import MatchService
from app.settings import AppSettings
from index.matcher import Matcher

CHROMIUM = Path(os.environ.get("DOPPELGANGER_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
MAX_K = 10



def _missing() -> str | None:
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} is missing: `make setup` installs it (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is missing: `make setup` installs it (the test extra)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _missing()
    if reason is None:
        return
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.skip(reason=f"browser test skipped: {reason}"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


# ---------- the app in a thread ----------


@dataclass
class Server:
    url: str
    service: MatchService
    settings: AppSettings


def _serve(serve, index_dir: Path, detector, tmp: Path) -> Iterator[Server]:
    settings = AppSettings(
        index_dir=index_dir, max_k=MAX_K, default_k=5, runs_dir=tmp / "runs", gallery_added_dir=tmp / "added",
        match_rate_per_minute=0,  # every test of the session uploads from 127.0.0.1
    )
    service = MatchService(index_dir)
    service.use(Matcher.load(index_dir, detector=detector, max_bytes=settings.max_upload_bytes, max_pixels=settings.max_upload_pixels))
    for url in serve(create_app(settings, match_service=service)):
        yield Server(url, service, settings)


@pytest.fixture(scope="session")
def server(app_index: Path, stub_detector, tmp_path_factory: pytest.TempPathFactory, serve_app) -> Iterator[Server]:
    """The app over the fake index with the stub detector: two faces in every photo, none when the top-left
    pixel is black."""
    if _missing():
        pytest.skip(_missing())
    yield from _serve(serve_app, app_index, stub_detector, tmp_path_factory.mktemp("stub-app"))


@pytest.fixture(scope="session")
def mtcnn_server(app_index: Path, tmp_path_factory: pytest.TempPathFactory, serve_app) -> Iterator[Server]:
    """The app over the fake index with the real MTCNN face detector."""
    if _missing():
        pytest.skip(_missing())
    from model.faces.detector import FaceDetector

    yield from _serve(serve_app, app_index, FaceDetector(), tmp_path_factory.mktemp("mtcnn-app"))


@pytest.fixture(scope="session")
def unready_server(app_index: Path, tmp_path_factory: pytest.TempPathFactory, serve_app) -> Iterator[Server]:
    """The app before any index is loaded (every match is a 503), with a 60 kB upload limit."""
    if _missing():
        pytest.skip(_missing())
    tmp = tmp_path_factory.mktemp("unready-app")
    settings = AppSettings(index_dir=tmp / "no-index", max_k=MAX_K, max_upload_bytes=60_000, runs_dir=tmp / "runs", gallery_added_dir=tmp / "added",
                           match_rate_per_minute=0)
    service = MatchService(settings.index_dir)
    for url in serve_app(create_app(settings, match_service=service, load=False)):
        yield Server(url, service, settings)


# ---------- the browser ----------


def write_mjpeg(photo: Path, out: Path, size: tuple[int, int] = (640, 480), frames: int = 20) -> Path:
    """``photo`` cropped to ``size`` as an MJPEG file for Chromium's fake camera: baseline JPEG frames, one after
    the other (Chromium reads the frame size from the first; the file plays in a loop)."""
    image = ImageOps.fit(ImageOps.exif_transpose(Image.open(photo)).convert("RGB"), size, centering=(0.5, 0.3))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85, progressive=False, optimize=False)
    out.write_bytes(buffer.getvalue() * frames)
    return out


@pytest.fixture(scope="session")
def fake_camera(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fake camera's film: ``obama.jpg`` from the photos beside the data, or a drawn stand-in without them."""
    folder = tmp_path_factory.mktemp("camera")
    data = os.environ.get("DOPPELGANGER_DATA_DIR")
    photo = Path(data).parent / "photos" / "obama.jpg" if data else None
    if photo is None or not photo.is_file():
        photo = folder / "stand-in.jpg"
        stand_in = Image.new("RGB", (640, 480), (70, 110, 160))
        ImageDraw.Draw(stand_in).ellipse((240, 120, 400, 330), fill=(225, 185, 160))
        stand_in.save(photo)
    return write_mjpeg(photo, folder / "camera.mjpeg")


@pytest.fixture(scope="session")
def browser(fake_camera: Path):
    reason = _missing()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                f"--use-file-for-fake-video-capture={fake_camera}",
            ],
        )
        yield browser
        browser.close()


@dataclass
class Tab:
    """A page and what it logged: console errors, uncaught exceptions, /match requests."""

    page: object
    errors: list[str] = field(default_factory=list)
    match_requests: list[str] = field(default_factory=list)


def _open(browser, request: pytest.FixtureRequest, **context_options) -> Iterator[Tab]:
    context = browser.new_context(**context_options)
    context.set_default_timeout(15_000)
    page = context.new_page()
    tab = Tab(page)
    page.on("console", lambda message: tab.errors.append(f"console: {message.text}") if message.type == "error" else None)
    page.on("pageerror", lambda error: tab.errors.append(f"page error: {error}"))
    page.on("request", lambda r: tab.match_requests.append(r.url) if "/match" in r.url else None)
    yield tab
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in request.node.name)
        try:
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
            (ARTIFACTS / f"{name}.log").write_text("\n".join(tab.errors) + "\n")
        except Exception as error:  # a crashed page: the report says enough
            print(f"no screenshot: {error}")
    context.close()


@pytest.fixture
def tab(browser, request: pytest.FixtureRequest) -> Iterator[Tab]:
    """A desktop-sized tab."""
    yield from _open(browser, request, viewport={"width": 1280, "height": 900})


@pytest.fixture
def phone(browser, request: pytest.FixtureRequest) -> Iterator[Tab]:
    """A phone-sized tab: 375 px wide, touch, device pixel ratio 2."""
    yield from _open(browser, request, viewport={"width": 375, "height": 812}, device_scale_factor=2, is_mobile=True, has_touch=True)
