"""The look-alike page in a real browser: upload, webcam, choosing a face, k, errors, a phone-sized screen."""

from __future__ import annotations

import base64
import dataclasses
import io
import re
from pathlib import Path

import pytest
from PIL import Image

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="browser test skipped: Playwright for Python is missing (`make setup` installs it)"
)
expect = sync_api.expect


def _jpeg(color: tuple[int, int, int], size=(320, 240)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="JPEG")
    return buffer.getvalue()


def _upload(tab, path: Path | None = None, *, name: str = "", data: bytes = b"", mime: str = "image/jpeg"):
    """Choose a file in the page's file picker; returns the /match response."""
    files = str(path) if path else {"name": name, "mimeType": mime, "buffer": data}
    with tab.page.expect_response(lambda r: "/match" in r.url) as response:
        tab.page.set_input_files("#file-input", files)
    return response.value


def _shown_names(page) -> list[str]:
    return page.locator("#matches .match-name").all_inner_texts()


def test_upload_a_photo_shows_its_look_alikes(server, tab, photos_dir: Path) -> None:
    page = tab.page
    page.goto(server.url + "/")
    expect(page).to_have_title("Doppelganger: find your look-alikes")
    response = _upload(tab, photos_dir / "biden.jpg")
    assert response.status == 200
    body = response.json()
    cards = page.locator("#matches > li")
    expect(cards).to_have_count(5)
    query = body["faces"][body["query_face"]]
    assert _shown_names(page) == [m["person"].replace("_", " ") for m in query["matches"]]
    # Gallery photos load, with alt text; similarities as percentages and bars.
    first = cards.first.locator("img")
    expect(first).to_have_attribute("src", query["matches"][0]["face_url"])
    expect(first).to_have_attribute("alt", f"{query['matches'][0]['person'].replace('_', ' ')}, gallery photo")
    page.wait_for_function("() => [...document.querySelectorAll('#matches img')].every(i => i.complete && i.naturalWidth > 0)")
    # Each card shows the square face cut from the gallery's original image.
    sizes = page.evaluate("() => [...document.querySelectorAll('#matches img')].map(i => [i.naturalWidth, i.naturalHeight])")
    assert sizes == [[160, 160]] * 5
    expect(cards.first.locator(".similarity")).to_have_text(f"{query['matches'][0]['similarity']:.1f}% similar")
    width = cards.first.locator(".meter > span").evaluate("e => e.style.width")
    assert float(width.rstrip("%")) == pytest.approx(query["matches"][0]["similarity"])
    # The honest line, or the same-person badges: one or the other, as the answer says.
    same = sum(m["same_person"] for m in query["matches"])
    expect(page.locator("#matches .badge-good")).to_have_count(same)
    if same:
        expect(page.locator("#no-strong-match")).to_be_hidden()
    else:
        expect(page.locator("#no-strong-match")).to_be_visible()
        expect(page.locator("#no-strong-match")).to_contain_text("look-alikes, not you")
    expect(page.locator("#timings")).to_contain_text("total")
    expect(page.locator("#photo-canvas")).to_be_visible()
    assert page.locator("#query-face").evaluate("c => c.width") == 400
    assert not tab.errors


def test_the_map_link_carries_the_matches_to_the_embedding_map(server, tab, photos_dir: Path) -> None:
    page = tab.page
    page.goto(server.url + "/")
    body = _upload(tab, photos_dir / "biden.jpg").json()
    matches = body["faces"][body["query_face"]]["matches"]
    expected = ",".join(f"{m['image_id']}:{m['similarity']:g}" for m in matches)  # JavaScript prints 50.0 as 50
    link = page.locator("#map-link")
    href = link.get_attribute("href")
    assert href.startswith("/dashboard/embedding?match=") and href.split("=", 1)[1] == expected
    link.click()
    expect(page.locator("#map-legend")).to_contain_text(f"similarity-weighted mean of its {len(matches)} matches")
    assert not tab.errors


def test_the_honest_line_and_the_badge_follow_same_person(server, tab, photos_dir: Path, monkeypatch) -> None:
    """Whatever the (untrained) fake model says, both cases go through the page: the threshold is moved."""
    page = tab.page
    page.goto(server.url + "/")
    matcher = server.service.matcher
    for threshold, badges in ((-2.0, 5), (2.0, 0)):  # every cosine passes / none does
        monkeypatch.setattr(matcher, "calibration", dataclasses.replace(matcher.calibration, threshold=threshold))
        _upload(tab, photos_dir / "obama.jpg")
        expect(page.locator("#matches > li")).to_have_count(5)
        expect(page.locator("#matches .badge-good")).to_have_count(badges)
        expect(page.locator("#matches .badge-good").first if badges else page.locator("#no-strong-match")).to_be_visible()
        if badges:
            expect(page.locator("#no-strong-match")).to_be_hidden()
            expect(page.locator("#matches .badge-good").first).to_have_text("same person?")
        else:
            expect(page.locator("#no-strong-match")).to_contain_text(
                "No strong match: none of these passes the same-person threshold — they are look-alikes, not you"
            )
    assert not tab.errors


def test_changing_k_queries_again_within_the_bound(server, tab, photos_dir: Path) -> None:
    page = tab.page
    page.goto(server.url + "/")
    expect(page.locator("#k-select option")).to_have_count(server.settings.max_k)
    _upload(tab, photos_dir / "obama.jpg")
    expect(page.locator("#matches > li")).to_have_count(5)
    with page.expect_response(lambda r: "/match" in r.url) as response:
        page.select_option("#k-select", "3")
    assert "k=3" in response.value.url
    expect(page.locator("#matches > li")).to_have_count(3)
    assert not tab.errors


def test_the_webcam_snapshot_is_matched(server, tab) -> None:
    page = tab.page
    page.goto(server.url + "/")
    page.get_by_role("tab", name="Use your camera").click()
    page.get_by_role("button", name="Start camera").click()
    video = page.locator("#camera-video")
    expect(video).to_be_visible()
    page.wait_for_function("() => document.getElementById('camera-video').videoWidth > 0")
    assert video.evaluate("v => [v.videoWidth, v.videoHeight]") == [640, 480]
    with page.expect_response(lambda r: "/match" in r.url) as response:
        page.get_by_role("button", name="Take photo").click()
    assert response.value.status == 200
    expect(page.locator("#matches > li")).to_have_count(5)
    expect(page.locator("#camera-snapshot")).to_be_visible()
    expect(video).to_be_hidden()
    # The camera is off after the snapshot; retake brings the live preview back.
    assert page.evaluate("() => document.getElementById('camera-video').srcObject") is None
    page.get_by_role("button", name="Retake").click()
    expect(video).to_be_visible()
    expect(page.get_by_role("button", name="Take photo")).to_be_visible()
    # Leaving the camera tab turns the camera off.
    page.get_by_role("tab", name="Upload a photo").click()
    expect(video).to_be_hidden()
    assert page.evaluate("() => document.getElementById('camera-video').srcObject") is None
    assert not tab.errors


def test_choosing_among_several_faces_needs_no_new_request(server, tab, photos_dir: Path) -> None:
    page = tab.page
    page.goto(server.url + "/")
    body = _upload(tab, photos_dir / "obama.jpg").json()
    assert len(body["faces"]) == 2  # the stub detector
    choices = page.locator("#faces .face-choice")
    expect(choices).to_have_count(2)
    expect(choices.nth(0)).to_have_attribute("aria-pressed", "true")
    assert _shown_names(page) == [m["person"].replace("_", " ") for m in body["faces"][0]["matches"]]
    requests = len(tab.match_requests)
    choices.nth(1).click()
    expect(choices.nth(1)).to_have_attribute("aria-pressed", "true")
    expect(choices.nth(0)).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#query-caption")).to_have_text("You (face 2 of 2)")
    assert _shown_names(page) == [m["person"].replace("_", " ") for m in body["faces"][1]["matches"]]
    assert len(tab.match_requests) == requests
    # Keyboard: the face buttons are reachable and pressable.
    choices.nth(0).focus()
    page.keyboard.press("Enter")
    expect(choices.nth(0)).to_have_attribute("aria-pressed", "true")
    # A new k keeps the chosen face.
    choices.nth(1).click()
    with page.expect_response(lambda r: "/match" in r.url) as response:
        page.select_option("#k-select", "2")
    assert "face=1" in response.value.url
    expect(page.locator("#matches > li")).to_have_count(2)
    expect(choices.nth(1)).to_have_attribute("aria-pressed", "true")
    assert not tab.errors


def test_a_group_photo_with_the_real_detector_offers_every_face(mtcnn_server, tab, photos_dir: Path) -> None:
    page = tab.page
    page.goto(mtcnn_server.url + "/")
    body = _upload(tab, photos_dir / "sample1.jpg").json()
    assert len(body["faces"]) == 3
    choices = page.locator("#faces .face-choice")
    expect(choices).to_have_count(3)
    # Each thumbnail is the face cut from the photo in the browser: not blank.
    for i in range(3):
        spread = choices.nth(i).locator("canvas").evaluate(
            """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                      let lo = 255, hi = 0; for (let i = 0; i < d.length; i += 4) { lo = Math.min(lo, d[i]); hi = Math.max(hi, d[i]); }
                      return hi - lo; }"""
        )
        assert spread > 40, f"face {i + 1}'s thumbnail looks blank"
    choices.nth(2).click()
    expect(page.locator("#query-caption")).to_have_text("You (face 3 of 3)")
    assert _shown_names(page) == [m["person"].replace("_", " ") for m in body["faces"][2]["matches"]]
    assert not tab.errors


@pytest.mark.parametrize(
    ("upload", "status", "title", "detail"),
    [
        ({"name": "notes.txt", "data": b"this is not a photo", "mime": "text/plain"}, 415, "Not a supported image", "not a JPEG, PNG or WebP"),
        ({"name": "cut.jpg", "data": _jpeg((120, 90, 80))[:300]}, 400, "This file can't be read", "truncated or corrupt"),
        ({"name": "dark.jpg", "data": _jpeg((0, 0, 0))}, 422, "No face found", "o face"),
    ],
    ids=["not-an-image", "truncated", "no-face"],
)
def test_a_bad_file_shows_the_apis_message(server, tab, upload, status, title, detail) -> None:
    page = tab.page
    page.goto(server.url + "/")
    response = _upload(tab, **upload)
    assert response.status == status
    alert = page.get_by_role("alert")
    expect(alert).to_be_visible()
    expect(alert.locator("strong")).to_have_text(title)
    expect(alert).to_contain_text(detail)
    assert response.json()["detail"][1:].rstrip(".") in alert.inner_text()
    expect(page.locator("#results")).to_be_hidden()
    assert not [e for e in tab.errors if "Failed to load resource" not in e]  # the 4xx itself is logged


def test_an_index_not_ready_is_said_on_load_and_on_upload(unready_server, tab) -> None:
    page = tab.page
    page.goto(unready_server.url + "/")
    expect(page.locator("#health-alert")).to_be_visible()
    expect(page.locator("#health-alert")).to_contain_text("not ready")
    response = _upload(tab, name="me.jpg", data=_jpeg((120, 90, 80)))
    assert response.status == 503
    expect(page.get_by_role("alert")).to_contain_text("The look-alike index is not ready")


def test_a_file_over_the_limit_is_too_large_unless_the_browser_can_shrink_it(unready_server, tab, photos_dir: Path) -> None:
    page = tab.page
    page.goto(unready_server.url + "/")
    # Not an image the browser reads: sent as it is, and the server says it is too large.
    response = _upload(tab, name="big.jpg", data=b"\xff" * 70_000)
    assert response.status == 413
    expect(page.get_by_role("alert").locator("strong")).to_have_text("This photo is too large")
    expect(page.get_by_role("alert")).to_contain_text("larger than")
    # A real photo over the limit (280 kB) is scaled down in the browser to fit it: the request gets through.
    request_sizes = []
    page.on("request", lambda r: request_sizes.append(len(r.post_data_buffer or b"")) if "/match" in r.url else None)
    response = _upload(tab, photos_dir / "obama.jpg")
    assert response.status == 503 and request_sizes and request_sizes[-1] < 60_000


def test_a_photo_dropped_on_the_drop_zone_is_matched(server, tab) -> None:
    page = tab.page
    page.goto(server.url + "/")
    data = base64.b64encode(_jpeg((120, 90, 80), size=(400, 300))).decode()
    transfer = page.evaluate_handle(
        """b64 => { const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
                    const transfer = new DataTransfer();
                    transfer.items.add(new File([bytes], 'dropped.jpg', { type: 'image/jpeg' }));
                    return transfer; }""",
        data,
    )
    page.dispatch_event("#dropzone", "dragover", {"dataTransfer": transfer})
    expect(page.locator("#dropzone")).to_have_class(re.compile("dragover"))
    with page.expect_response(lambda r: "/match" in r.url) as response:
        page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})
    assert response.value.status == 200
    expect(page.locator("#matches > li")).to_have_count(5)
    expect(page.locator("#dropzone")).not_to_have_class(re.compile("dragover"))
    assert not tab.errors


def test_a_good_photo_after_an_error_clears_it(server, tab, photos_dir: Path) -> None:
    page = tab.page
    page.goto(server.url + "/")
    _upload(tab, name="dark.jpg", data=_jpeg((0, 0, 0)))
    expect(page.get_by_role("alert")).to_be_visible()
    _upload(tab, photos_dir / "obama.jpg")
    expect(page.get_by_role("alert")).to_be_hidden()
    expect(page.locator("#matches > li")).to_have_count(5)


def test_the_page_loads_without_console_errors_and_every_nav_link_is_there(server, tab) -> None:
    page = tab.page
    page.goto(server.url + "/")
    page.wait_for_load_state("networkidle")
    nav = page.get_by_role("navigation", name="Main")
    for href in ("/", "/dashboard/accuracy", "/dashboard/embedding", "/admin", "/docs"):
        expect(nav.locator(f'a[href="{href}"]').last).to_be_visible()
    expect(nav.locator('a[aria-current="page"]')).to_have_attribute("href", "/")
    assert page.evaluate("() => getComputedStyle(document.body).fontFamily").startswith("system-ui")
    assert not tab.errors


def test_the_upload_is_keyboard_reachable(server, tab) -> None:
    page = tab.page
    page.goto(server.url + "/")
    seen = []
    for _ in range(12):
        page.keyboard.press("Tab")
        seen.append(page.evaluate("() => document.activeElement.id || document.activeElement.textContent.trim()"))
    assert "file-input" in seen and "tab-upload" in seen and "k-select" in seen
    # Arrow keys move between the two tabs.
    page.focus("#tab-upload")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#tab-camera")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#panel-camera")).to_be_visible()


def _no_horizontal_scroll(page) -> None:
    widths = page.evaluate("() => [document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]")
    assert max(widths[:2]) <= widths[2], f"the page scrolls sideways: {widths}"


def test_a_phone_sized_screen_has_no_horizontal_scroll(server, phone, photos_dir: Path) -> None:
    page = phone.page
    page.goto(server.url + "/")
    assert page.evaluate("() => window.innerWidth") == 375
    _no_horizontal_scroll(page)
    _upload(phone, photos_dir / "biden.jpg")
    expect(page.locator("#matches > li")).to_have_count(5)
    _no_horizontal_scroll(page)
    # Two look-alikes a row, each inside the screen.
    boxes = [page.locator("#matches > li").nth(i).bounding_box() for i in range(2)]
    assert boxes[0]["y"] == boxes[1]["y"] and all(b["x"] >= 0 and b["x"] + b["width"] <= 375 for b in boxes)
    _upload(phone, name="notes.txt", data=b"nope", mime="text/plain")
    expect(page.get_by_role("alert")).to_be_visible()
    _no_horizontal_scroll(page)
    page.get_by_role("tab", name="Use your camera").click()
    _no_horizontal_scroll(page)
