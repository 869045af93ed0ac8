"""The wheel that a non-editable install (the Dockerfile's ``pip install .``) installs: the top-level
``templates/`` and ``static/`` go in as ``app/templates`` and ``app/static``, where ``app.web`` looks first."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel_files(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    out = tmp_path_factory.mktemp("wheel")
    try:
        import setuptools  # noqa: F401  - the build backend, from this environment (no download)
    except ImportError:
        pytest.skip("setuptools is not installed here: cannot build the wheel without internet")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(out)],
        capture_output=True, text=True, timeout=300, cwd=out,
    )
    assert result.returncode == 0, result.stderr
    [wheel] = out.glob("doppelganger-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


@pytest.mark.parametrize("folder", ["templates", "static"])
def test_the_pages_and_their_assets_are_installed_with_the_app(wheel_files: set[str], folder: str) -> None:
    files = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / folder).rglob("*") if p.is_file())
    assert files
    assert {f"app/{name}" for name in files} <= wheel_files


def test_the_wheel_has_every_package_and_its_data(wheel_files: set[str]) -> None:
    for module in ("app/web.py", "app/main.py", "index/storage.py", "model/grid.py", "model/faces/lfw_template.json"):
        assert module in wheel_files
    assert not any(name.startswith(("templates/", "static/", "tests/")) for name in wheel_files)
