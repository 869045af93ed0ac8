"""Download LFW (deep-funneled images and the official protocol files) with checksums and atomic writes.

Every file is streamed into a staging folder next to the destination (same filesystem), its MD5 checked while it
streams, archives extracted there too, and only then moved into place with ``os.replace``: an interrupted or failed
download never leaves a partial ``.txt`` or a half-extracted ``lfw-deepfunneled/`` in the destination. Without a
network it fails fast and says which URLs to fetch by hand and where to put them.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from tqdm import tqdm

LFW_BASE_URL = "http://vis-www.cs.umass.edu/lfw/"
"""The official LFW site (UMass Amherst), as torchvision's ``datasets/lfw.py`` uses it."""

ManifestEntry = tuple[str, str | None, bool]
"""``(filename, md5 or None, is_archive)``; an archive ``X.tgz`` must hold the folder ``X/``."""

# Checksums: every MD5 below comes from torchvision's torchvision/datasets/lfw.py (`file_dict`, `checksums`).
# The seven .txt checksums were also confirmed with md5sum against a real copy of the protocol files; the .tgz one
# could not be (no archive at hand) and is torchvision's alone. README.txt has no published checksum (a local copy
# hashes to 73e0a2cf850e7486b7ddc7f402f9f3a6, but its provenance is unknown), so it is fetched unverified rather
# than let an edited readme block the whole download.
LFW_FILES: tuple[ManifestEntry, ...] = (
    ("lfw-deepfunneled.tgz", "68331da3eb755a505a502b5aacb3c201", True),
    ("people.txt", "450f0863dd89e85e73936a6d71a3474b", False),
    ("peopleDevTrain.txt", "54eaac34beb6d042ed3a7d883e247a21", False),
    ("peopleDevTest.txt", "e4bf5be0a43b5dcd9dc5ccfcb8fb19c5", False),
    ("pairs.txt", "9f1ba174e4e1c508ff7cdf10ac338a7d", False),
    ("pairsDevTrain.txt", "4f27cbf15b2da4a85c1907eb4181ad21", False),
    ("pairsDevTest.txt", "5132f7440eb68cf58910c8a45a2ac10b", False),
    ("lfw-names.txt", "a6d0a479bd074669f656265a6e693f6d", False),
    ("README.txt", None, False),
)

_CHUNK = 1 << 20
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")


class DownloadError(Exception):
    """A download that cannot complete; the one-line message says why and what to do instead."""


class Unreachable(Exception):
    """The server could not be reached at all (no network, DNS failure, refused or timed-out connection)."""


class HTTPStatus(Exception):
    """The server answered with an HTTP error (404, 403, 500...)."""


def download_lfw(
    dest: Path,
    base_url: str | None = None,
    timeout: float = 10.0,
    manifest: Sequence[ManifestEntry] = LFW_FILES,
) -> list[str]:
    """Download the files of ``manifest`` missing from ``dest`` and return their names (empty when none were).

    A ``.txt`` counts as present when its checksum matches (or it exists, when it has none); an archive ``X.tgz``
    when the folder ``dest/X/`` exists. ``timeout`` bounds the connection and every read, in seconds.
    Raises :class:`DownloadError` on any failure, leaving ``dest`` without partial files.
    """
    dest = Path(dest).expanduser().resolve()
    base = base_url or LFW_BASE_URL
    if not base.endswith("/"):
        base += "/"
    missing = [entry for entry in manifest if not _is_complete(dest, entry)]
    if not missing:
        return []
    try:
        dest.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.download-", dir=dest.parent))
    except OSError as error:
        raise DownloadError(f"cannot write to {dest}: {error}") from error
    done = []
    try:
        for i, (name, md5, is_archive) in enumerate(missing):
            url = base + name
            try:
                part = fetch(url, staging / name, md5, timeout)
            except Unreachable as error:
                raise DownloadError(f"cannot reach {base} ({error}); {_by_hand(base, missing[i:], dest)}") from error
            except HTTPStatus as error:
                raise DownloadError(f"{error}; check --base-url, or {_by_hand(base, missing[i:], dest)}") from error
            if is_archive:
                _install_archive(part, staging, dest)
            else:
                os.replace(part, dest / name)
            done.append(name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return done


def _archive_folder(name: str) -> str:
    """The folder an archive extracts to: ``lfw-deepfunneled.tgz`` -> ``lfw-deepfunneled``."""
    for suffix in _ARCHIVE_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    raise ValueError(f"{name}: not a tar archive (expected one of {', '.join(_ARCHIVE_SUFFIXES)})")


def _is_complete(dest: Path, entry: ManifestEntry) -> bool:
    name, md5, is_archive = entry
    if is_archive:
        return (dest / _archive_folder(name)).is_dir()
    path = dest / name
    if not path.is_file():
        return False
    return md5 is None or _md5_file(path) == md5


def _md5_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(url: str, path: Path, expected: str | None, timeout: float, algorithm: str = "md5") -> Path:
    """Stream ``url`` into ``path``, checking its length and its ``algorithm`` digest (``expected``, hex; None: no
    check); delete ``path`` and raise on any failure."""
    name = path.name
    try:
        response = urlopen(Request(url, headers={"User-Agent": "doppelganger"}), timeout=timeout)
    except HTTPError as error:
        raise HTTPStatus(f"{url} answered HTTP {error.code} {error.reason}") from error
    except (URLError, OSError, http.client.HTTPException, ValueError) as error:
        reason = getattr(error, "reason", None) or error
        raise Unreachable(str(reason)) from error
    digest = hashlib.new(algorithm, usedforsecurity=False)
    received = 0
    try:
        with response, open(path, "wb") as file:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name, disable=None) as bar:
                while chunk := response.read(_CHUNK):
                    file.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        if total is not None and received != total:
            raise DownloadError(
                f"the download of {name} from {url} broke off after {received} of {total} bytes; "
                "nothing partial was kept, run the command again"
            )
    except (OSError, http.client.HTTPException) as error:
        path.unlink(missing_ok=True)
        raise DownloadError(
            f"the download of {name} from {url} failed after {received} bytes ({error}); "
            "nothing partial was kept, run the command again"
        ) from error
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    actual = digest.hexdigest()
    if expected is not None and actual != expected:
        path.unlink(missing_ok=True)
        raise DownloadError(
            f"{name} from {url} failed its checksum (expected {algorithm} {expected}, got {actual}); the file was deleted"
        )
    return path


def _install_archive(archive: Path, staging: Path, dest: Path) -> None:
    """Extract ``archive`` inside ``staging`` (refusing paths outside it), then move its folder into ``dest``."""
    folder = _archive_folder(archive.name)
    root = staging / f"{folder}.extract"
    root.mkdir()
    try:
        with tarfile.open(archive) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(root, filter="data")
            else:  # Python without extraction filters (< 3.11.4): check every member by hand.
                _check_members(tar, root)
                tar.extractall(root)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise DownloadError(f"cannot extract {archive.name}: {error}") from error
    archive.unlink()
    if not (root / folder).is_dir():
        raise DownloadError(f"{archive.name} does not contain the folder {folder}/")
    os.replace(root / folder, dest / folder)


def _check_members(tar: tarfile.TarFile, root: Path) -> None:
    """Refuse links, special files and any member that would land outside ``root``."""
    base = root.resolve()
    for member in tar.getmembers():
        if not (member.isfile() or member.isdir()):
            raise DownloadError(f"{tar.name}: refusing {member.name!r}: only files and folders are expected")
        if not (base / member.name).resolve().is_relative_to(base):
            raise DownloadError(f"{tar.name}: refusing {member.name!r}: it points outside the extraction folder")


def _by_hand(base: str, entries: Sequence[ManifestEntry], dest: Path) -> str:
    """What to do without a network: the URLs to fetch and where each file goes, as one line."""
    urls = ", ".join(base + name for name, _, _ in entries)
    places = []
    for name, _, is_archive in entries:
        if is_archive:
            folder = _archive_folder(name)
            places.append(f"extract {name} there so that the images are {dest}/{folder}/<Name>/<Name>_NNNN.jpg")
    if any(not is_archive for _, _, is_archive in entries):
        places.append(f"put the .txt files directly in {dest}")
    return (
        f"download {urls} by hand into {dest} ({'; '.join(places)}), "
        "or set DOPPELGANGER_DATA_DIR to a folder whose lfw/ already holds them"
    )
