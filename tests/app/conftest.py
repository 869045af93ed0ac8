"""Fixtures for the app tests: the app over a fake index (built once), with a stub face detector."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.main import create_app
from app.services.matching import MatchService
from app.settings import AppSettings
from index.build import build_index
from index.matcher import Matcher
from model.faces.detector import Face


class StubDetector:
    """Two faces in fixed places, or none for a photo whose top-left pixel is black."""

    def detect(self, image: Image.Image) -> list[Face]:
        if image.getpixel((0, 0)) == (0, 0, 0):
            return []
        landmarks = np.array([[100, 110], [150, 110], [125, 140], [105, 165], [145, 165]], dtype=float)
        return [
            Face((60.0, 50.0, 190.0, 200.0), 0.999, landmarks),
            Face((10.0, 10.0, 40.0, 45.0), 0.95, landmarks / 5 + 5),
        ]


@pytest.fixture(scope="session")
def app_index(index_world, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root, images, run = index_world
    out = tmp_path_factory.mktemp("app-index")
    build_index(run.path, images.root, out, root / "lfw", progress=False)
    return out


@pytest.fixture
def app_settings(app_index: Path, tmp_path: Path) -> AppSettings:
    return AppSettings(
        index_dir=app_index, admin_token="s3cret", max_upload_bytes=200_000, max_upload_pixels=4_000_000,
        gallery_added_dir=tmp_path / "added", runs_dir=tmp_path / "runs", max_k=10,
    )


@pytest.fixture
def client(app_settings: AppSettings, app_index: Path):
    service = MatchService(app_index)
    service.use(Matcher.load(
        app_index, detector=StubDetector(),
        max_bytes=app_settings.max_upload_bytes, max_pixels=app_settings.max_upload_pixels,
    ))
    with TestClient(create_app(app_settings, match_service=service)) as test_client:
        yield test_client


@pytest.fixture
def stub_detector() -> StubDetector:
    return StubDetector()
