"""Faults: the server killed with SIGKILL in the middle of a rebuild comes back serving the previous index, and the
next rebuild cleans up after the dead one. (A damaged index file is tests/index/test_storage.py's; two rebuilds
at once, one job and a 409, test_admin.py's.)"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import numpy as np
import pytest
from PIL import Image

from index.build import build_index
from index.storage import IndexDir

TOKEN = "fault-test-admin-token"
REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(index_dir: Path, data_dir: Path, run: Path, tmp: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {
        **os.environ, "DOPPELGANGER_INDEX_DIR": str(index_dir), "DOPPELGANGER_DATA_DIR": str(data_dir),
        "DOPPELGANGER_MODEL_RUN": str(run), "DOPPELGANGER_ADMIN_TOKEN": TOKEN, "DOPPELGANGER_RUNS_DIR": str(tmp / "runs"),
        "DOPPELGANGER_GALLERY_ADDED_DIR": str(tmp / "added"), "OMP_NUM_THREADS": "1",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)], cwd=REPO, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert server.poll() is None, "the server exited at start-up"
        try:
            if httpx2.get(f"{url}/health", timeout=2).json().get("status") == "ok":
                return server, url
        except httpx2.HTTPError:
            pass
        time.sleep(0.2)
    server.kill()
    raise AssertionError("the server did not become ready in 120 s")


@pytest.fixture
def big_world(index_world, tmp_path: Path):
    """A copy of the fake gallery grown to 1,200 images (each person's photos with noise), so that a rebuild
    takes long enough to be killed in the middle, and its index."""
    root, images, run = index_world
    gallery = tmp_path / "gallery"
    shutil.copytree(images.root, gallery)
    rng = np.random.default_rng(0)
    originals = sorted(gallery.glob("*/*.jpg"))
    for copy in range(1200 // len(originals)):
        for path in originals:
            pixels = np.asarray(Image.open(path), dtype=np.int16) + rng.integers(-20, 21, size=(250, 250, 3))
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path.with_name(f"{path.stem}_n{copy}.jpg"), quality=80)
    index_dir = tmp_path / "index"
    build_index(run.path, gallery, index_dir, root / "lfw", progress=False)
    return root, gallery, run.path, index_dir


def test_kill_9_mid_rebuild_then_restart_serves_the_previous_index(big_world, tmp_path: Path) -> None:
    data_dir, gallery, run, index_dir = big_world
    before = IndexDir(index_dir).current().name
    server, url = _start(index_dir, data_dir, run, tmp_path)
    try:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        job = httpx2.post(f"{url}/admin/rebuild", params={"full": "true"}, headers=auth, timeout=10)
        assert job.status_code == 202, job.text
        job_id = job.json()["job"]
        deadline = time.monotonic() + 120
        while True:  # wait until the rebuild is embedding, then kill the server without warning
            state = httpx2.get(f"{url}/admin/jobs/{job_id}", headers=auth, timeout=10).json()
            if state["state"] == "running" and 0 < state.get("done", 0) < state.get("total", 0):
                break
            assert state["state"] in ("queued", "running") and time.monotonic() < deadline, state
            time.sleep(0.01)
        server.send_signal(signal.SIGKILL)
        server.wait(10)
    finally:
        if server.poll() is None:
            server.kill()
    assert IndexDir(index_dir).current().name == before  # the pointer never moved
    # What a kill during the publish itself would leave: a half-written version aside (an hour old by now).
    leftover = index_dir / "versions" / ".staging-killed"
    leftover.mkdir()
    (leftover / "index.faiss").write_bytes(b"half")
    os.utime(leftover, (time.time() - 7200, time.time() - 7200))

    server, url = _start(index_dir, data_dir, run, tmp_path)
    try:
        health = httpx2.get(f"{url}/health", timeout=10).json()
        assert health["index"]["version"] == before and health["index"]["images"] > 1000
        # The history says the killed rebuild never finished, and a new one goes through and cleans up.
        killed = httpx2.get(f"{url}/admin/jobs/{job_id}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).json()
        assert killed["state"] == "failed" and "interrupted" in killed["message"]
        job = httpx2.post(f"{url}/admin/rebuild", params={"full": "true"}, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        assert job.status_code == 202, job.text
        job_id = job.json()["job"]
        deadline = time.monotonic() + 300
        while (state := httpx2.get(f"{url}/admin/jobs/{job_id}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).json())["state"] in ("queued", "running"):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert state["state"] == "succeeded", state
        health = httpx2.get(f"{url}/health", timeout=10).json()
        assert health["status"] == "ok" and health["index"]["version"] not in (before, None)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
    assert not leftover.exists()  # the new publish cleaned up after the dead one
