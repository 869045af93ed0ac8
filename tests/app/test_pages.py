"""The HTML pages: ``/`` renders with its assets, the assets are served, and nothing is loaded from elsewhere."""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

from fastapi.testclient import TestClient

from app.web import STATIC, TEMPLATES
import app.web
from app.web import templates


class _Assets(HTMLParser):
    """Every ``href`` and ``src`` of a page, and its labelled form controls."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.label_for: set[str] = set()
        self.controls: list[str] = []
        self.images_without_alt: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for key in ("href", "src"):
            if a.get(key):
                self.links.append(a[key])
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "label" and a.get("for"):
            self.label_for.add(a["for"])
        if tag in ("input", "select", "textarea") and a.get("type") != "hidden":
            self.controls.append(a.get("id") or "")
        if tag == "img" and "alt" not in a:
            self.images_without_alt.append(a.get("src") or "")


def _page(client: TestClient, path: str = "/") -> tuple[str, _Assets]:
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    parser = _Assets()
    parser.feed(response.text)
    return response.text, parser


def test_the_page_renders_with_the_upload_camera_and_k_controls(client: TestClient, app_settings) -> None:
    html, parsed = _page(client)
    assert "<title>Doppelganger" in html
    for element in ("file-input", "dropzone", "camera-start", "camera-snap", "camera-retake", "k-select", "matches", "error"):
        assert element in parsed.ids, element
    # k is bounded by the settings' max_k (10 in the test settings), the default one selected.
    options = re.findall(r'<option value="(\d+)"', html)
    assert options == [str(n) for n in range(1, app_settings.max_k + 1)]
    assert re.search(rf'<option value="{app_settings.default_k}"\s+selected>', html)
    assert "it is not stored or logged" in html
    assert "No strong match:</strong> none of these passes the same-person threshold" in html


def test_the_nav_links_every_page(client: TestClient) -> None:
    _, parsed = _page(client)
    for path in ("/", "/dashboard/accuracy", "/dashboard/embedding", "/admin", "/docs"):
        assert path in parsed.links, path
    assert 'aria-current="page"' in client.get("/").text


def test_the_page_is_accessible_in_the_basics(client: TestClient) -> None:
    html, parsed = _page(client)
    assert '<html lang="en">' in html and 'name="viewport"' in html
    unlabelled = [c for c in parsed.controls if c not in parsed.label_for]
    assert not unlabelled, f"form controls without a <label for>: {unlabelled}"
    assert not parsed.images_without_alt


def test_the_page_links_its_static_assets_and_they_are_served(client: TestClient) -> None:
    _, parsed = _page(client)
    local = [link for link in parsed.links if link.startswith("/static/")]
    assert {"/static/style.css", "/static/app.js"} <= set(local)
    types = {".css": "text/css", ".js": "javascript", ".svg": "image/svg+xml"}
    for link in local:
        response = client.get(link)
        assert response.status_code == 200, link
        suffix = link[link.rfind("."):]
        assert types[suffix] in response.headers["content-type"], (link, response.headers["content-type"])
    assert client.get("/static/no-such-file.js").status_code == 404


def test_the_page_has_no_external_url(client: TestClient) -> None:
    html, parsed = _page(client)
    assert not [link for link in parsed.links if re.match(r"^(https?:)?//", link)]
    assert not re.search(r"https?://", html)


def test_templates_and_static_files_load_nothing_from_elsewhere() -> None:
    files = [p for folder in (TEMPLATES, STATIC) for p in folder.rglob("*") if p.is_file()]
    assert files
    offenders = []
    for path in files:
        if path.suffix.lower() in {".png", ".jpg", ".jpeg", ".webp", ".ico", ".woff", ".woff2"}:
            continue
        # An XML namespace (an SVG's xmlns) names a vocabulary and loads nothing.
        text = re.sub(r'xmlns(:\w+)?="http://www\.w3\.org/[^"]*"', "", path.read_text(encoding="utf-8"))
        # Any absolute URL (a CDN, a web font, a link) and any CSS @import of a remote sheet.
        for match in re.finditer(r"https?://|url\(\s*['\"]?//|@import\s+url", text):
            line = text.count("\n", 0, match.start()) + 1
            offenders.append(f"{path.relative_to(path.parents[1])}:{line}")
    assert not offenders, f"external URLs: {offenders}"


def test_every_page_renders_from_the_one_templates_folder(client: TestClient, tmp_path, monkeypatch) -> None:
    """Point the shared template environment (``app.web.templates``) at a marked copy of the folder: every page,
    whichever route renders it, must show the mark. A route with its own environment would not."""
    from jinja2 import FileSystemLoader

    copy = tmp_path / "templates"
    shutil.copytree(TEMPLATES, copy)
    base = copy / "base.html"
    base.write_text(base.read_text().replace("</body>", "<!-- the shared folder --></body>"))
    monkeypatch.setattr(templates.env, "loader", FileSystemLoader(copy))
    for path in ("/", "/admin", "/dashboard/accuracy", "/dashboard/embedding"):
        response = client.get(path)
        assert response.status_code == 200 and "<!-- the shared folder -->" in response.text, path


def test_a_checkout_serves_the_top_level_folders() -> None:
    root = Path(app.web.__file__).resolve().parents[1]
    assert (TEMPLATES, STATIC) == (root / "templates", root / "static")
