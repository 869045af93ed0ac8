"""Shared fixtures: the real datasets (skipped where absent) and private cache and run folders per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from model.settings import get_settings


@pytest.fixture(autouse=True, scope="session")
def _private_folders(tmp_path_factory: pytest.TempPathFactory):
    """Caches and runs go to a temporary folder, never into the working tree."""
    saved = {k: os.environ.get(k) for k in ("DOPPELGANGER_CACHE_DIR", "DOPPELGANGER_RUNS_DIR")}
    os.environ["DOPPELGANGER_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    os.environ["DOPPELGANGER_RUNS_DIR"] = str(tmp_path_factory.mktemp("runs"))
    get_settings.cache_clear()
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``$DOPPELGANGER_DATA_DIR`` holding the real ``lfw/`` and ``tt100k/``; tests that need it skip otherwise."""
    root = os.environ.get("DOPPELGANGER_DATA_DIR")
    if not root:
        pytest.skip("DOPPELGANGER_DATA_DIR is not set: real-data test skipped")
    missing = [name for name in ("lfw", "tt100k") if not (Path(root) / name).is_dir()]
    if missing:
        pytest.skip(f"{root} lacks {', '.join(missing)}/: real-data test skipped")
    return Path(root)
