"""Security: the admin token, path traversal, headers, CORS, the rate limit and the time limit of /match."""

from __future__ import annotations

import dataclasses
import io
import re
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.main import create_app
from app.security import RateLimiter
from app.services.matching import MatchService
from app.settings import AppSettings
from index.matcher import Matcher


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (200, 160), (120, 90, 80)).save(buffer, format="JPEG")
    return buffer.getvalue()


def _client(settings: AppSettings, app_index: Path, detector, service: MatchService | None = None) -> TestClient:
    if service is None:
        service = MatchService(app_index)
        service.use(Matcher.load(app_index, detector=detector))
    return TestClient(create_app(settings, match_service=service))


# --- admin ------------------------------------------------------------------------------------------------------

def test_admin_has_no_default_token(app_settings: AppSettings, app_index: Path, stub_detector) -> None:
    """Without DOPPELGANGER_ADMIN_TOKEN admin is off: no token, not even an empty one, opens it."""
    settings = app_settings.model_copy(update={"admin_token": None})
    with _client(settings, app_index, stub_detector) as client:
        for header in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer None"}, {"Authorization": "Bearer null"}):
            response = client.get("/admin/status", headers=header)
            assert response.status_code == 403 and "DOPPELGANGER_ADMIN_TOKEN" in response.json()["detail"]
        assert "switched off" in client.get("/admin").text


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer s3cre", "Bearer s3cret2", "Basic s3cret", "bearer  S3CRET"])
def test_admin_refuses_every_wrong_token(client: TestClient, header: str) -> None:
    response = client.get("/admin/status", headers={"Authorization": header} if header else {})
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("given, status", [("s3cret", 200), ("s3creX", 401), ("s", 401), ("a-much-longer-wrong-token", 401)])
def test_admin_compares_tokens_in_constant_time(client: TestClient, monkeypatch: pytest.MonkeyPatch, given: str,
                                                status: int) -> None:
    """Every token, right or wrong, whatever its length, is judged by a constant-time comparison."""
    import hmac
    import secrets

    calls = []
    original = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return original(a, b)

    monkeypatch.setattr(secrets, "compare_digest", spy)
    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert client.get("/admin/status", headers={"Authorization": f"Bearer {given}"}).status_code == status
    assert len(calls) == 1
    assert {bytes(x) if not isinstance(x, str) else x.encode() for x in calls[0]} == {given.encode(), b"s3cret"}


# --- path traversal ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "/gallery/..%2F..%2F..%2Fetc%2Fpasswd/image",
    "/gallery/%2e%2e%2f%2e%2e%2fetc%2fpasswd/image",
    "/gallery/..%5C..%5Cwindows%5Cwin.ini/image",
    "/gallery/1%2F..%2F..%2Fsettings.py/image",
    "/gallery/-1/image",
    "/gallery/1e3/image",
    "/gallery/99999999999999999999999/image",
    "/gallery/%00/image",
    "/gallery/%EF%BC%91/image",  # a full-width digit one
    "/gallery/..%2F..%2F..%2Fetc%2Fpasswd/face",
    "/gallery/1%2F..%2F..%2Fsettings.py/face",
    "/gallery/%EF%BC%91/face",
    "/static/..%2Fsettings.py",
    "/static/%2e%2e/main.py",
    "/static/../main.py",
])
def test_path_traversal_probes_are_404(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404, (path, response.status_code, response.text[:200])
    assert "root:" not in response.text and "BaseSettings" not in response.text


def test_a_gallery_record_cannot_point_outside_its_gallery(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Even a tampered metadata record (a path with ``..``) never serves a file outside the gallery folder."""
    metadata = client.app.state.match_service.matcher.index.metadata
    record = metadata.records()[0]
    tampered = dataclasses.replace(record, path="../../../../../../../../etc/passwd")
    monkeypatch.setattr(metadata, "get", lambda ids: {record.id: tampered})
    for what in ("image", "face"):
        response = client.get(f"/gallery/{record.id}/{what}")
        assert response.status_code == 404 and "root:" not in response.text


# --- headers and CORS -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/admin", "/dashboard/accuracy", "/health", "/static/app.js"])
def test_security_headers_on_pages_and_api(client: TestClient, path: str) -> None:
    headers = client.get(path).headers
    csp = headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer" and "camera=(self)" in headers["permissions-policy"]


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_api_docs_load_their_assets_from_this_server_only(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200 and response.headers["x-content-type-options"] == "nosniff"
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self' 'unsafe-inline'" in csp and "frame-ancestors 'none'" in csp
    assert "http" not in csp  # no other origin, no CDN
    sources = re.findall(r'(?:src|href)=["\']([^"\']+)', response.text)
    assert sources and all(url.startswith("/") for url in sources), sources
    for url in sources:
        assert client.get(url).status_code == 200, url


def test_cors_is_closed_by_default(client: TestClient) -> None:
    response = client.post("/match", files={"file": ("a.jpg", _jpeg(), "image/jpeg")}, headers={"Origin": "https://evil.example"})
    assert response.status_code == 200 and "access-control-allow-origin" not in response.headers
    preflight = client.options("/match", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_opens_to_the_configured_origins(app_settings: AppSettings, app_index: Path, stub_detector) -> None:
    settings = app_settings.model_copy(update={"cors_origins": ["https://friend.example"]})
    with _client(settings, app_index, stub_detector) as client:
        ok = client.options("/match", headers={"Origin": "https://friend.example", "Access-Control-Request-Method": "POST"})
        assert ok.headers["access-control-allow-origin"] == "https://friend.example"
        other = client.get("/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


# --- rate limit and time limit ----------------------------------------------------------------------------------

def test_match_is_rate_limited_per_client(app_settings: AppSettings, app_index: Path, stub_detector) -> None:
    settings = app_settings.model_copy(update={"match_rate_per_minute": 6.0, "match_burst": 3})
    with _client(settings, app_index, stub_detector) as client:
        codes = [client.post("/match", files={"file": ("a.jpg", _jpeg(), "image/jpeg")}).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        refused = client.post("/match", files={"file": ("a.jpg", _jpeg(), "image/jpeg")})
        assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 10
        assert "wait" in refused.json()["detail"]
        assert client.get("/health").status_code == 200  # only /match is limited


def test_the_token_bucket_refills_and_forgets_old_clients() -> None:
    now = [0.0]
    limiter = RateLimiter(rate_per_minute=60, burst=2, max_clients=2, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(2)] == [0.0, 0.0]
    assert limiter.take("a") == pytest.approx(1.0)  # one token a second
    assert limiter.take("b") == 0.0  # another client has its own bucket
    now[0] = 1.5
    assert limiter.take("a") == 0.0
    limiter.take("c")
    assert len(limiter._buckets) == 2  # bounded memory
    assert RateLimiter(0, 1).take("x") == 0.0  # 0 switches the limit off


def test_a_match_over_the_time_limit_stops_and_is_a_503(app_settings: AppSettings, app_index: Path, stub_detector) -> None:
    """The deadline stops the match at its next stage: the slow detection runs, nothing after it does."""
    stages: list[str] = []

    class SlowDetector:
        def detect(self, image):
            stages.append("detect")
            time.sleep(0.3)
            return stub_detector.detect(image)

    matcher = Matcher.load(app_index, detector=SlowDetector())
    embed = matcher.embedder.embed
    matcher.embedder.embed = lambda images: (stages.append("embed"), embed(images))[1]
    service = MatchService(app_index)
    service.use(matcher)
    settings = app_settings.model_copy(update={"match_timeout_seconds": 0.1})
    with _client(settings, app_index, None, service) as client:
        response = client.post("/match", files={"file": ("a.jpg", _jpeg(), "image/jpeg")})
        assert response.status_code == 503 and "took longer than 0.1 s" in response.json()["detail"]
        assert "after the detect stage" in response.json()["detail"] and response.headers["retry-after"] == "5"
    assert stages == ["detect"]


def test_the_time_limit_must_be_positive() -> None:
    import pydantic

    with pytest.raises(pydantic.ValidationError):
        AppSettings(match_timeout_seconds=0)


def test_a_rate_limited_upload_is_refused_before_its_body_is_read(app_settings: AppSettings, app_index: Path, stub_detector) -> None:
    settings = app_settings.model_copy(update={"match_rate_per_minute": 1.0, "match_burst": 1})
    with _client(settings, app_index, stub_detector) as client:
        assert client.post("/match", files={"file": ("a.jpg", _jpeg(), "image/jpeg")}).status_code == 200
        read = []

        def body():
            read.append(True)
            yield b"x" * 1000

        refused = client.post("/match", content=body(), headers={"Content-Type": "multipart/form-data; boundary=b", "Content-Length": "1000"})
        assert refused.status_code == 429 and not read
