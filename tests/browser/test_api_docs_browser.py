"""The API docs in a real browser with the network off: /docs (Swagger UI) and /redoc (ReDoc) render every
operation from assets this server serves itself (the fastapi-offline package), never from a CDN."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="browser test skipped: Playwright for Python is missing (`make setup` installs it)"
)
expect = sync_api.expect

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def _offline(tab) -> list[str]:
    """Abort every request to a host other than this machine; the list of what was refused."""
    refused: list[str] = []

    def route(request_route) -> None:
        url = request_route.request.url
        if urlsplit(url).scheme in ("data", "blob") or urlsplit(url).hostname in LOOPBACK:
            request_route.continue_()
        else:
            refused.append(url)
            request_route.abort("internetdisconnected")

    tab.page.context.route("**/*", route)
    return refused


def test_swagger_ui_renders_the_operations_offline(server, tab) -> None:
    refused = _offline(tab)
    tab.page.goto(f"{server.url}/docs")
    match = tab.page.locator(".opblock-summary-path[data-path='/match']")
    expect(match).to_be_visible()
    expect(tab.page.locator(".opblock-summary-path[data-path='/health']")).to_be_visible()
    match.click()  # the operation opens, with its parameters and the example answer
    expect(tab.page.locator(".opblock-post .parameters-container")).to_contain_text("detect")
    assert refused == [] and tab.errors == []


def test_redoc_renders_the_operations_offline(server, tab) -> None:
    refused = _offline(tab)
    tab.page.goto(f"{server.url}/redoc")
    expect(tab.page.get_by_role("heading", name="Find the look-alikes of every face in a photo")).to_be_visible()
    # Case-sensitive, so not the face route's "...face of a gallery image, by the image_id...".
    expect(tab.page.get_by_role("heading", name=re.compile(r"A gallery image, by the image_id a match gives"))).to_be_attached()
    expect(tab.page.get_by_role("heading", name="The square face of a gallery image", exact=False)).to_be_attached()
    # ReDoc's "API docs by Redocly" badge points at its CDN: the docs' Content-Security-Policy stops it in the page.
    blocked_by_policy = [e for e in tab.errors if "cdn.redoc.ly" in e and "Content Security Policy" in e]
    assert refused == [] and [e for e in tab.errors if e not in blocked_by_policy] == []
