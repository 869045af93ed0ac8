"""``model.pretrained`` and ``doppelganger models``: the registry's checksums, and downloads on loopback that check
every SHA-256 and leave nothing half-written."""

from __future__ import annotations

import functools
import hashlib
import shutil
import socket
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from app.cli import main as cli
from model import pretrained
from model.data.download import DownloadError
from model.pretrained import MODELS, PretrainedModel, WeightsFile, WeightsUnavailableError, download_models, model_file


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on 127.0.0.1 serving the folder it returns, laid out like the weights folder."""
    root = tmp_path / "mirror"
    root.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", root
    httpd.shutdown()
    httpd.server_close()


def _fake_model(monkeypatch: pytest.MonkeyPatch, files: dict[str, bytes]) -> None:
    """Replace the registry with one model made of ``files`` (their true SHA-256)."""
    entries = tuple(WeightsFile(path, hashlib.sha256(data).hexdigest(), f"http://publisher.invalid/{path}") for path, data in files.items())
    monkeypatch.setattr(pretrained, "MODELS", {"fake": PretrainedModel("fake", "a test model", "none", entries)})


def _leftovers(dest: Path) -> list[str]:
    return sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if ".weights-download-" in str(p))


def test_download_checks_and_places_every_file(monkeypatch, mirror, tmp_path):
    url, root = mirror
    files = {"openvino/fake.xml": b"<net/>", "openvino/fake.bin": b"\x00\x01" * 500}
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    _fake_model(monkeypatch, files)
    dest = tmp_path / "weights"
    assert sorted(download_models(dest=dest, base_url=url)) == sorted(files)
    assert {p: (dest / p).read_bytes() for p in files} == files
    assert model_file("fake", dest) == dest / "openvino/fake.xml"
    assert download_models(dest=dest, base_url=url) == []  # nothing missing: nothing fetched
    assert _leftovers(dest) == []


def test_a_checksum_mismatch_is_a_clear_error_and_leaves_nothing(monkeypatch, mirror, tmp_path):
    url, root = mirror
    files = {"openvino/fake.xml": b"<net/>", "openvino/fake.bin": b"weights"}
    _fake_model(monkeypatch, files)
    (root / "openvino").mkdir()
    (root / "openvino/fake.xml").write_bytes(b"<net/>")
    (root / "openvino/fake.bin").write_bytes(b"tampered")  # the publisher's file changed
    dest = tmp_path / "weights"
    with pytest.raises(DownloadError, match="failed its checksum .*sha256"):
        download_models(dest=dest, base_url=url)
    # Not even the file that passed is moved in: the model is all there, or not at all.
    assert not (dest / "openvino").exists() and _leftovers(dest) == []
    with pytest.raises(WeightsUnavailableError, match="doppelganger models download fake"):
        model_file("fake", dest)


def test_without_a_network_it_says_what_to_fetch_and_where(monkeypatch, tmp_path):
    _fake_model(monkeypatch, {"openvino/fake.xml": b"<net/>"})
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    dest = tmp_path / "weights"
    with pytest.raises(DownloadError) as error:
        download_models(dest=dest, base_url=closed, timeout=2)
    assert "http://publisher.invalid/openvino/fake.xml" in str(error.value) and str(dest) in str(error.value)
    assert _leftovers(dest) == []


def test_a_damaged_weights_file_is_refused_with_the_command_that_repairs_it(tmp_path, weights_dir):
    copy = tmp_path / "weights"
    shutil.copytree(weights_dir / "openvino", copy / "openvino")
    assert model_file("landmarks-regression-retail-0009", copy).exists()
    (copy / "openvino/landmarks-regression-retail-0009.bin").write_bytes(b"\x00" * 100)
    with pytest.raises(WeightsUnavailableError, match="models download landmarks-regression-retail-0009"):
        model_file("landmarks-regression-retail-0009", copy)


def test_the_cli_downloads_the_real_files_from_a_mirror(mirror, tmp_path, weights_dir, capsys):
    url, root = mirror
    shutil.copytree(weights_dir / "openvino", root / "openvino")
    dest = tmp_path / "weights"
    assert cli(["models", "download", "landmarks-regression-retail-0009", "--dest", str(dest), "--base-url", url]) == 0
    assert "downloaded 2 file(s)" in capsys.readouterr().out
    assert model_file("landmarks-regression-retail-0009", dest).exists()  # the registry's SHA-256 pinned the copy
    assert cli(["models", "download", "no-such-model", "--dest", str(dest), "--base-url", url]) == 2
    assert "unknown model(s) no-such-model" in capsys.readouterr().err


def test_the_registry_pins_the_shared_copies(weights_dir):
    for name in MODELS:
        assert model_file(name, weights_dir).exists()
