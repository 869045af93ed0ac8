"""Screenshots of the web app for the README: ``python tools/screenshots.py [--index DIR] [--out docs/screenshots]``.

Starts the app on ``--index`` (default: the settings' ``index_dir``) in this process, opens it in Debian's
Chromium through Playwright (``make setup`` installs both; no browser is downloaded) and saves PNGs of:

* ``index-empty.png``: ``/`` before any photo;
* ``index-results.png``: ``/`` with the look-alikes of ``--photo`` (default: ``biden.jpg`` from the photos beside
  ``$DOPPELGANGER_DATA_DIR``), and ``index-results-phone.png``, the same on a 375 px wide screen;
* ``index-group.png``: ``/`` with a group photo (``sample1.jpg``), its faces to choose from, when that photo exists;
* every other page that answers 200: ``/dashboard/accuracy``, ``/dashboard/embedding``, ``/admin``.

Nothing is sent anywhere but this local server.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
OTHER_PAGES = {"accuracy": "/dashboard/accuracy", "embedding": "/dashboard/embedding", "admin": "/admin"}


def default_photos() -> Path:
    data = os.environ.get("DOPPELGANGER_DATA_DIR")
    candidates = ([Path(data).parent / "photos"] if data else []) + [ROOT.parent / "shared" / "photos"]
    return next((p for p in candidates if p.is_dir()), candidates[0])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    photos = default_photos()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, help="the index folder (default: the settings' index_dir)")
    parser.add_argument("--run", type=Path, help="the model run (default: the one the index names)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots", help="where the PNGs go (default: %(default)s)")
    parser.add_argument("--photo", type=Path, default=photos / "biden.jpg", help="the photo matched (default: %(default)s)")
    parser.add_argument("--group", type=Path, default=photos / "sample1.jpg", help="a photo with several faces (default: %(default)s)")
    parser.add_argument("--chromium", type=Path, default=Path("/usr/bin/chromium"))
    parser.add_argument("--k", type=int, default=5, help="look-alikes shown (default: %(default)s)")
    return parser.parse_args(argv)


def start_app(index_dir: Path | None, run_dir: Path | None):
    """The app in a background thread; returns (base URL, uvicorn server)."""
    import uvicorn

    from app.main import create_app
    from app.services.matching import MatchService
    from app.settings import AppSettings

    settings = AppSettings(**({"index_dir": index_dir} if index_dir else {}))
    service = MatchService(settings.index_dir, run_dir, max_bytes=settings.max_upload_bytes, max_pixels=settings.max_upload_pixels)
    service.load()
    if not service.ready:
        raise SystemExit(f"the index in {settings.index_dir} does not load: {service.health()['reason']}")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings, match_service=service), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise SystemExit("the app did not start")
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def show_results(page, photo: Path, k: int) -> None:
    """Upload ``photo`` and wait until the look-alikes and their photos are shown."""
    page.select_option("#k-select", str(k))
    with page.expect_response(lambda r: "/match" in r.url, timeout=120_000) as response:
        page.set_input_files("#file-input", str(photo))
    if response.value.status != 200:
        raise SystemExit(f"/match answered {response.value.status} for {photo}: {response.value.text()}")
    page.wait_for_selector("#matches > li")
    page.evaluate("() => document.querySelectorAll('#matches img').forEach(i => { i.loading = 'eager'; })")
    page.wait_for_function("() => [...document.querySelectorAll('#matches img')].every(i => i.complete)")
    page.evaluate("() => document.activeElement && document.activeElement.blur()")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.chromium.is_file():
        raise SystemExit(f"{args.chromium} is missing: `make setup` installs it")
    from playwright.sync_api import sync_playwright

    base, server = start_app(args.index, args.run)
    args.out.mkdir(parents=True, exist_ok=True)
    saved = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(args.chromium), args=CHROMIUM_ARGS)
            desktop = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="light")
            phone = browser.new_context(viewport={"width": 375, "height": 812}, device_scale_factor=2, is_mobile=True, has_touch=True, color_scheme="light")

            def shoot(page, name: str, full_page: bool = True) -> None:
                path = args.out / f"{name}.png"
                page.screenshot(path=str(path), full_page=full_page)
                saved.append(path)

            page = desktop.new_page()
            page.goto(base + "/")
            page.wait_for_load_state("networkidle")
            shoot(page, "index-empty", full_page=False)
            show_results(page, args.photo, args.k)
            shoot(page, "index-results")

            small = phone.new_page()
            small.goto(base + "/")
            show_results(small, args.photo, min(args.k, 4))
            shoot(small, "index-results-phone")

            if args.group.is_file():
                show_results(page, args.group, args.k)
                shoot(page, "index-group")

            for name, path in OTHER_PAGES.items():
                if status_of(base + path) != 200:
                    print(f"{path}: not there (or not 200), no screenshot")
                    continue
                other = desktop.new_page()
                other.goto(base + path)
                other.wait_for_load_state("networkidle")
                shoot(other, name)
                other.close()
            browser.close()
    finally:
        server.should_exit = True
    for path in saved:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
