"""Property-based fuzzing of the OpenAPI schema (schemathesis) against the app served over HTTP: whatever the
generated parameters and bodies, every answer is a 2xx, or a 4xx with a message; never a 5xx; and the server is
still healthy after. Admin calls go without the token, so they must all be refused, never executed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from app.main import create_app
from app.services.matching import MatchService
from app.settings import AppSettings
from index.matcher import Matcher

EXAMPLES = 25
"""Generated requests per operation: enough to hit every parameter's edges, few enough for `make test`."""


@pytest.fixture(scope="module")
def live_url(app_index: Path, stub_detector, serve_app, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("fuzz-app")
    app_settings = AppSettings(
        index_dir=app_index, admin_token="fuzz-admin-token-never-sent", runs_dir=tmp / "runs",
        gallery_added_dir=tmp / "added", match_rate_per_minute=0, max_upload_bytes=300_000,
    )
    service = MatchService(app_index)
    service.use(Matcher.load(app_index, detector=stub_detector))
    yield from serve_app(create_app(app_settings, match_service=service))


@pytest.fixture(scope="module")
def api_schema(live_url: str):
    return schemathesis.openapi.from_url(f"{live_url}/openapi.json")


def _operations(schema) -> list:
    return [result.ok() for result in schema.get_all_operations()]


def test_every_operation_is_fuzzed(api_schema) -> None:
    paths = {(op.method.upper(), op.path) for op in _operations(api_schema)}
    assert {("POST", "/match"), ("GET", "/gallery/{image_id}/image"), ("GET", "/health"), ("POST", "/admin/rebuild")} <= paths


def test_no_generated_request_gets_a_server_error(api_schema, live_url: str) -> None:
    seen: list[tuple[str, int]] = []
    for operation in _operations(api_schema):

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None)
        def check(case) -> None:
            response = case.call(base_url=live_url, timeout=30)
            where = (case.method, case.formatted_path, response.status_code, response.content[:300])
            assert response.status_code < 500, where
            if response.status_code >= 400:
                assert response.json()["detail"], where
            if case.path.startswith("/admin"):
                assert response.status_code == 401, where  # never executed without the token
            seen.append((case.path, response.status_code))

        check()
    assert len(seen) >= 5 * len(_operations(api_schema))
    assert {code for path, code in seen if path == "/gallery/{image_id}/image"} >= {404}


def test_the_server_is_healthy_after_the_fuzzing(live_url: str) -> None:
    response = httpx2.get(f"{live_url}/health", timeout=10)
    assert response.status_code == 200 and response.json()["status"] == "ok"
