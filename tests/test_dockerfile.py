"""The Dockerfile, read as text (this machine has no Docker engine): what the issue asks of the container."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.settings import AppSettings

DOCKERFILE = Path(__file__).resolve().parents[1] / "Dockerfile"


@pytest.fixture(scope="module")
def text() -> str:
    return DOCKERFILE.read_text()


def test_slim_base_and_cpu_only_torch(text: str) -> None:
    assert re.search(r"^FROM python:3\.\d+-slim", text, re.M)
    assert "download.pytorch.org/whl/cpu" in text and 'torch==' in text


def test_runs_as_a_non_root_user(text: str) -> None:
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")


def test_health_check_on_health_and_serves_by_default(text: str) -> None:
    assert re.search(r"^HEALTHCHECK .*\n?.*127\.0\.0\.1:8000/health", text, re.M)
    assert 'CMD ["serve"]' in text and "EXPOSE 8000" in text and "DOPPELGANGER_HOST=0.0.0.0" in text


def test_every_writable_path_is_a_volume(text: str) -> None:
    volumes = set(re.findall(r'"(/[a-z]+)"', re.search(r"^VOLUME \[(.*)\]", text, re.M).group(1)))
    env = dict(re.findall(r"(DOPPELGANGER_[A-Z_]+|TORCH_HOME)=(\S+)", text))
    for name in ("DOPPELGANGER_DATA_DIR", "DOPPELGANGER_RUNS_DIR", "DOPPELGANGER_CACHE_DIR", "DOPPELGANGER_INDEX_DIR",
                 "DOPPELGANGER_GALLERY_ADDED_DIR", "TORCH_HOME"):
        assert "/" + env[name].strip("\\").split("/")[1] in volumes, name
        field = name.removeprefix("DOPPELGANGER_").lower()
        assert name == "TORCH_HOME" or field in AppSettings.model_fields, name  # each variable is a real setting


def test_the_image_copies_what_the_package_needs(text: str) -> None:
    for folder in ("model", "index", "app", "templates", "static", "configs"):
        assert f"COPY {folder} ./{folder}" in text
    copied = re.search(r"^COPY (.*) \./$", text, re.M).group(1).split()
    assert {"pyproject.toml", "setup.py", "README.md"} <= set(copied)  # setup.py installs templates/ and static/
