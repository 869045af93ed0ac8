"""Fixtures for the app tests: the app over the fake index (``app_index``) with the stub face detector."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.services.matching import MatchService
from app.settings import AppSettings
from index.matcher import Matcher


@pytest.fixture
def app_settings(app_index: Path, tmp_path: Path) -> AppSettings:
    return AppSettings(
        index_dir=app_index, admin_token="s3cret", max_upload_bytes=200_000, max_upload_pixels=4_000_000,
        gallery_added_dir=tmp_path / "added", runs_dir=tmp_path / "runs", max_k=10,
        match_rate_per_minute=0,  # test_security.py checks the limit; the other tests upload freely
    )


@pytest.fixture
def client(app_settings: AppSettings, app_index: Path, stub_detector):
    service = MatchService(app_index)
    service.use(Matcher.load(
        app_index, detector=stub_detector,
        max_bytes=app_settings.max_upload_bytes, max_pixels=app_settings.max_upload_pixels,
    ))
    with TestClient(create_app(app_settings, match_service=service)) as test_client:
        yield test_client
