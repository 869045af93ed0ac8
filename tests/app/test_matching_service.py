"""The matching service follows index versions that other processes publish (replicas sharing one folder)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from app.services.matching import MatchService
from index.matcher import Matcher
from index.storage import METADATA, IndexDir, verify_version
from index.metadata import MetadataStore


def _publish_copy_of_live(index_dir: Path) -> str:
    """Publish the live version again as a new version, as another replica's rebuild would."""
    store = IndexDir(index_dir)
    folder = store.current()
    manifest = verify_version(folder)
    metadata = MetadataStore(folder / METADATA)
    try:
        records = metadata.records()
        _, vectors = metadata.embeddings()
    finally:
        metadata.close()
    return store.publish(manifest, records, vectors).name


def _wait_for(service: MatchService, version: str, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        service.health()
        if service.ready and service.matcher.index.version == version:
            return True
        time.sleep(0.05)
    return False


def test_a_version_published_elsewhere_is_picked_up(app_index: Path, tmp_path: Path, stub_detector) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(app_index, index_dir)
    service = MatchService(index_dir, watch_seconds=0.05)
    service.use(Matcher.load(index_dir, detector=stub_detector))
    old = service.matcher.index.version
    new = _publish_copy_of_live(index_dir)
    assert new != old
    assert _wait_for(service, new)


def test_without_watching_the_served_version_stays(app_index: Path, tmp_path: Path, stub_detector) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(app_index, index_dir)
    service = MatchService(index_dir)  # watch_seconds=0
    service.use(Matcher.load(index_dir, detector=stub_detector))
    old = service.matcher.index.version
    _publish_copy_of_live(index_dir)
    time.sleep(0.2)
    service.health()
    time.sleep(0.2)
    assert service.matcher.index.version == old


def test_a_damaged_new_version_leaves_the_old_one_serving(app_index: Path, tmp_path: Path, stub_detector) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(app_index, index_dir)
    service = MatchService(index_dir, watch_seconds=0.05)
    service.use(Matcher.load(index_dir, detector=stub_detector))
    old = service.matcher.index.version
    new = _publish_copy_of_live(index_dir)
    vectors = IndexDir(index_dir).current() / "index.faiss"
    vectors.write_bytes(vectors.read_bytes()[:50])
    assert not _wait_for(service, new, seconds=1.0)
    assert service._failed_version == new  # the new version was tried, and refused
    assert service.matcher.index.version == old and service.health()["status"] == "ok"


def test_the_detector_setting_chooses_the_detector_of_uploads(app_index: Path, monkeypatch) -> None:
    import pytest

    from app.main import create_app
    from app.settings import AppSettings
    from model.faces.detectors.mtcnn import MtcnnDetector
    from model.faces.detectors.openvino_ssd import OpenVinoSsdDetector
    from model.faces.detectors.yunet import YuNetDetector
    from model.settings import get_settings

    try:
        monkeypatch.setenv("DOPPELGANGER_DETECTOR", "yunet")
        get_settings.cache_clear()
        assert type(MatchService(app_index, threads=1).detector) is YuNetDetector
        matcher = Matcher.load(app_index)
        assert type(matcher.detector) is YuNetDetector
        matcher.index.close()
        settings = AppSettings(index_dir=app_index)
        assert settings.detector == "yunet"
        app = create_app(settings, load=False)
        detector = app.state.match_service.detector
        assert type(detector) is YuNetDetector and detector.threads == settings.match_threads
        assert type(create_app(AppSettings(index_dir=app_index, detector="openvino"), load=False)
                    .state.match_service.detector) is OpenVinoSsdDetector
        monkeypatch.setenv("DOPPELGANGER_DETECTOR", "dlib")
        with pytest.raises(ValueError, match="unknown face detector 'dlib': choose one of yunet, openvino, mtcnn"):
            AppSettings(index_dir=app_index)
        monkeypatch.delenv("DOPPELGANGER_DETECTOR")
        get_settings.cache_clear()
        assert type(MatchService(app_index).detector) is YuNetDetector  # the default
    finally:
        get_settings.cache_clear()
