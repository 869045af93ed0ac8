"""``doppelganger data download lfw`` against a tiny LFW-like mirror served on 127.0.0.1 (never the real network)."""

from __future__ import annotations

import functools
import hashlib
import io
import os
import socket
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from app.cli import main
from model.data import download
from model.data.download import LFW_FILES, DownloadError, download_lfw
from model.data.lfw import load_lfw, read_pairs

PEOPLE = {"Alice_Example": 2, "Bob_Example": 1}
TEXTS = {
    "people.txt": "1\n2\nAlice_Example\t2\nBob_Example\t1\n",
    "peopleDevTrain.txt": "1\nAlice_Example\t2\n",
    "pairs.txt": "1\t1\nAlice_Example\t1\t2\nAlice_Example\t1\tBob_Example\t1\n",
    "pairsDevTest.txt": "1\nAlice_Example\t1\t2\nAlice_Example\t2\tBob_Example\t1\n",
}
ARCHIVE = "lfw-deepfunneled.tgz"


def _jpeg(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (seed * 40 % 256, 90, 160)).save(buffer, format="JPEG")
    return buffer.getvalue()


def _tgz(entries: dict[str, bytes], dirs: list[str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in dirs:
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture(scope="module")
def mirror() -> dict[str, bytes]:
    """The files of a tiny LFW: a deep-funneled archive of 2 people (3 images) and 4 protocol files."""
    images = {
        f"lfw-deepfunneled/{name}/{name}_{n:04d}.jpg": _jpeg(i * 10 + n)
        for i, (name, count) in enumerate(PEOPLE.items())
        for n in range(1, count + 1)
    }
    dirs = ["lfw-deepfunneled", *(f"lfw-deepfunneled/{name}" for name in PEOPLE)]
    return {ARCHIVE: _tgz(images, dirs), **{name: text.encode() for name, text in TEXTS.items()}}


@pytest.fixture(scope="module")
def manifest(mirror: dict[str, bytes]) -> tuple[download.ManifestEntry, ...]:
    return tuple((name, _md5(data), name == ARCHIVE) for name, data in mirror.items())


class Server:
    """A mirror on 127.0.0.1 that logs every request and can cut chosen files short after their headers."""

    def __init__(self, files: dict[str, bytes], truncate: frozenset[str] = frozenset()) -> None:
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.lstrip("/")
                server.requests.append(name)
                body = files.get(name)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if name in truncate:  # promise the whole file, send half, hang up
                    self.wfile.write(body[: len(body) // 2])
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/lfw/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(files: dict[str, bytes], truncate: frozenset[str] = frozenset()) -> Server:
        served = {f"lfw/{name}": data for name, data in files.items()}
        servers.append(Server(served, frozenset(f"lfw/{name}" for name in truncate)))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/lfw/"


def _assert_only_complete(dest: Path, failed: str) -> None:
    """``dest`` lacks ``failed``, what it holds is complete, and no staging folder or archive survives next to it."""
    assert not (dest / failed).exists()
    present = {p.name for p in dest.iterdir()} if dest.exists() else set()
    assert present <= {"lfw-deepfunneled", *TEXTS} - {failed}
    for name in present & set(TEXTS):
        assert (dest / name).read_text() == TEXTS[name], f"{name} is half-written"
    if failed == ARCHIVE:
        assert "lfw-deepfunneled" not in present, "a half-extracted image folder was left in dest"
    elif "lfw-deepfunneled" in present:
        assert len(list((dest / "lfw-deepfunneled").rglob("*.jpg"))) == 3
    assert not [p for p in dest.parent.iterdir() if p.name.startswith(".")], "a staging folder was left behind"
    assert not list(dest.parent.rglob("*.tgz")), "a downloaded archive was left behind"


def test_full_download_builds_the_lfw_layout(tmp_path, serve, mirror, manifest):
    server = serve(mirror)
    dest = tmp_path / "data" / "lfw"

    done = download_lfw(dest, base_url=server.url, timeout=2, manifest=manifest)

    assert sorted(done) == sorted(mirror)
    for name, text in TEXTS.items():
        assert (dest / name).read_text() == text
    assert sorted(p.relative_to(dest).as_posix() for p in (dest / "lfw-deepfunneled").rglob("*.jpg")) == [
        "lfw-deepfunneled/Alice_Example/Alice_Example_0001.jpg",
        "lfw-deepfunneled/Alice_Example/Alice_Example_0002.jpg",
        "lfw-deepfunneled/Bob_Example/Bob_Example_0001.jpg",
    ]
    assert Image.open(dest / "lfw-deepfunneled/Bob_Example/Bob_Example_0001.jpg").size == (8, 8)
    _assert_only_complete(dest, failed="nothing")
    # What was downloaded is what the readers expect.
    assert load_lfw(dest).classes == list(PEOPLE)
    assert len(load_lfw(dest)) == 3
    assert read_pairs(dest / "pairsDevTest.txt").same.tolist() == [True, False]


def test_second_run_downloads_nothing_and_repairs_a_corrupt_file(tmp_path, serve, mirror, manifest):
    server = serve(mirror)
    dest = tmp_path / "lfw"
    download_lfw(dest, base_url=server.url, timeout=2, manifest=manifest)
    assert len(server.requests) == len(mirror)

    assert download_lfw(dest, base_url=server.url, timeout=2, manifest=manifest) == []
    assert len(server.requests) == len(mirror)

    (dest / "pairs.txt").write_text("truncated")
    assert download_lfw(dest, base_url=server.url, timeout=2, manifest=manifest) == ["pairs.txt"]
    assert (dest / "pairs.txt").read_text() == TEXTS["pairs.txt"]
    assert server.requests[len(mirror) :] == ["lfw/pairs.txt"]


@pytest.mark.parametrize("bad", [ARCHIVE, "pairs.txt"])
def test_wrong_checksum_keeps_nothing(tmp_path, serve, mirror, manifest, bad):
    server = serve(mirror)
    dest = tmp_path / "lfw"
    wrong = tuple((name, "0" * 32 if name == bad else md5, arch) for name, md5, arch in manifest)

    with pytest.raises(DownloadError) as caught:
        download_lfw(dest, base_url=server.url, timeout=2, manifest=wrong)

    message = str(caught.value)
    assert bad in message and "0" * 32 in message and _md5(mirror[bad]) in message
    _assert_only_complete(dest, failed=bad)


@pytest.mark.parametrize("cut", [ARCHIVE, "pairsDevTest.txt"])
def test_server_dying_mid_transfer_leaves_nothing_half_written(tmp_path, serve, mirror, manifest, cut):
    server = serve(mirror, truncate=frozenset({cut}))
    dest = tmp_path / "lfw"

    with pytest.raises(DownloadError, match=f"{cut}.*broke off"):
        download_lfw(dest, base_url=server.url, timeout=2, manifest=manifest)

    _assert_only_complete(dest, failed=cut)
    # Once the server is healthy, the next run completes what is missing.
    healthy = serve(mirror)
    assert cut in download_lfw(dest, base_url=healthy.url, timeout=2, manifest=manifest)
    assert (dest / "lfw-deepfunneled" / "Alice_Example" / "Alice_Example_0002.jpg").is_file()


def test_unreachable_server_fails_fast_and_says_what_to_fetch(tmp_path, closed_port_url):
    dest = tmp_path / "lfw"
    start = time.monotonic()
    with pytest.raises(DownloadError) as caught:
        download_lfw(dest, base_url=closed_port_url, timeout=2)
    assert time.monotonic() - start < 1.5

    message = str(caught.value)
    assert "\n" not in message
    for name, _, _ in LFW_FILES:
        assert closed_port_url + name in message
    assert str(dest.resolve()) in message
    assert "lfw-deepfunneled/<Name>/<Name>_NNNN.jpg" in message
    assert "DOPPELGANGER_DATA_DIR" in message
    assert not dest.exists() or not any(dest.iterdir())
    _assert_only_complete(dest, failed=ARCHIVE)


def test_http_error_is_reported(tmp_path, serve, mirror, manifest):
    server = serve({name: data for name, data in mirror.items() if name != "pairs.txt"})
    with pytest.raises(DownloadError, match=r"pairs\.txt answered HTTP 404"):
        download_lfw(tmp_path / "lfw", base_url=server.url, timeout=2, manifest=manifest)
    assert not (tmp_path / "lfw" / "pairs.txt").exists()


def test_archive_escaping_its_folder_is_refused(tmp_path, serve):
    evil = _tgz({"lfw-deepfunneled/A/A_0001.jpg": _jpeg(1), "../../evil.txt": b"owned"}, ["lfw-deepfunneled"])
    server = serve({ARCHIVE: evil})
    dest = tmp_path / "deep" / "lfw"

    with pytest.raises(DownloadError, match="extract"):
        download_lfw(dest, base_url=server.url, timeout=2, manifest=((ARCHIVE, _md5(evil), True),))

    assert not list(tmp_path.rglob("evil.txt"))
    _assert_only_complete(dest, failed=ARCHIVE)


def test_cli_success(tmp_path, serve, mirror, manifest, monkeypatch, capsys):
    server = serve(mirror)
    monkeypatch.setattr(download, "download_lfw", functools.partial(download_lfw, manifest=manifest))
    dest = tmp_path / "lfw"

    code = main(["data", "download", "lfw", "--dest", str(dest), "--base-url", server.url, "--timeout", "2"])

    assert code == 0
    assert f"LFW is ready in {dest}" in capsys.readouterr().out
    assert (dest / "lfw-deepfunneled" / "Bob_Example" / "Bob_Example_0001.jpg").is_file()


def test_cli_failures_are_one_line_errors(tmp_path, serve, mirror, closed_port_url, capsys):
    dest = tmp_path / "lfw"
    assert main(["data", "download", "lfw", "--dest", str(dest), "--base-url", closed_port_url, "--timeout", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("doppelganger data: error: cannot reach")
    assert closed_port_url + ARCHIVE in err

    # The real manifest against a mirror serving other bytes: the checksum catches it.
    server = serve(mirror)
    assert main(["data", "download", "lfw", "--dest", str(dest), "--base-url", server.url]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{ARCHIVE} from {server.url}{ARCHIVE} failed its checksum" in err
    assert not (dest / "lfw-deepfunneled").exists()


def test_pinned_checksums_match_a_real_copy():
    """The protocol-file MD5s match the real files, when a copy is at hand ($DOPPELGANGER_DATA_DIR/lfw)."""
    lfw_dir = Path(os.environ.get("DOPPELGANGER_DATA_DIR", "data")) / "lfw"
    checked = [(name, md5) for name, md5, archive in LFW_FILES if md5 and not archive and (lfw_dir / name).is_file()]
    if not checked:
        pytest.skip(f"no LFW protocol files under {lfw_dir}")
    for name, md5 in checked:
        assert _md5((lfw_dir / name).read_bytes()) == md5, name
